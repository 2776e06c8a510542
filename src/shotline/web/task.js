// One task at a time in the result panel: poll its result, show status and progress, play the video.

import { API, ApiError, STATUS_LABEL, TERMINAL, api, loadStatuses } from "./api.js";
import { $, el } from "./dom.js";
import { clearErrors, showApiError } from "./fielderrors.js";
import { loadHistory, recalled } from "./history.js";

const POLL_MS = 600;
const MAX_BACKOFF_MS = 10_000;

// `token` changes with every watch(), so the poll loop of a task no longer shown stops by itself.
let watching = { taskId: null, token: 0, status: null };

export function watch(taskId, { justCreated = false } = {}) {
  const token = watching.token + 1;
  watching = { taskId, token, status: null };
  $("empty").hidden = true;
  $("task-view").hidden = false;
  $("task-id").textContent = taskId;
  for (const id of ["reason", "player", "task-meta", "notice"]) $(id).hidden = true;
  const video = $("video");
  delete video.dataset.url;
  video.removeAttribute("src");
  video.load();
  if (justCreated) render({ task: { task_id: taskId, status: "TASK_STATUS_QUEUED", progress_percent: 0, eta: 0 } });
  poll(token, 0);
}

async function poll(token, failures) {
  let body;
  try {
    await loadStatuses();
    body = await api("GET", `${API.result}?task_id=${encodeURIComponent(watching.taskId)}`);
  } catch (err) {
    if (token !== watching.token) return;
    if (err instanceof ApiError && err.status < 500 && err.status !== 429) {
      showApiError(err);
      return;
    }
    $("progress-text").textContent = "Lost touch with the server; retrying…";
    setTimeout(() => poll(token, failures + 1), Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** failures));
    return;
  }
  if (token !== watching.token) return;
  render(body);
  if (!TERMINAL.has(body.task.status)) setTimeout(() => poll(token, 0), POLL_MS);
}

function render(body) {
  const { task } = body;
  const label = STATUS_LABEL[task.status] || task.status;
  const changed = watching.status !== null && watching.status !== task.status;
  watching.status = task.status;
  const badge = $("status-badge");
  badge.hidden = false;
  badge.textContent = label;
  badge.dataset.status = task.status;
  const percent = task.progress_percent || 0;
  $("progress").value = percent;
  $("progress").dataset.percent = String(percent);
  let text = `${label} · ${percent}%`;
  if (!TERMINAL.has(task.status) && task.eta > 0) text += ` · about ${task.eta} s left`;
  $("progress-text").textContent = text;
  $("cancel").hidden = TERMINAL.has(task.status);
  $("reason").hidden = task.status !== "TASK_STATUS_FAILED";
  $("reason").textContent = task.reason || "The task failed.";
  if (body.extra) renderMeta(body);
  const video = (body.videos || [])[0];
  if (video && $("video").dataset.url !== video.video_url) play(video.video_url);
  if (changed) loadHistory();
}

function renderMeta(body) {
  const rows = [];
  const saved = recalled(body.task.task_id);
  if (saved) rows.push(["Prompt", saved.prompt || "(empty)"]);
  if (body.extra.seed) rows.push(["Seed", body.extra.seed]);
  if (body.extra.engine) rows.push(["Engine", body.extra.engine]);
  const meta = $("task-meta");
  meta.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
  const video = (body.videos || [])[0];
  if (video) {
    const link = el("a", { href: video.video_url, textContent: "Download mp4", download: `${body.task.task_id}.mp4` });
    meta.append(el("dt", { textContent: "File" }), el("dd", {}, link));
  }
  meta.hidden = rows.length === 0 && !video;
  $("notice").textContent = body.extra.notice || "";
  $("notice").hidden = !body.extra.notice;
}

function play(url) {
  const video = $("video");
  video.dataset.url = url;
  video.src = url;
  $("player").hidden = false;
  // Browsers may refuse to autoplay sound before a click; then start muted and let the user unmute.
  video.muted = false;
  video.play().catch(() => {
    video.muted = true;
    return video.play();
  }).catch(() => {});
}

export async function cancelWatched() {
  clearErrors();
  $("cancel").disabled = true;
  try {
    render(await api("POST", `${API.tasks}/${encodeURIComponent(watching.taskId)}/cancel`));
  } catch (err) {
    showApiError(err);
  } finally {
    $("cancel").disabled = false;
  }
}
