// The key's tasks, newest first (GET /v3/async/tasks). The API keeps no prompt in a result, so this
// browser remembers what it submitted, by task id, to give its own tasks a readable title.

import { API, ApiError, STATUS_LABEL, api, apiKey } from "./api.js";
import { $, el } from "./dom.js";
import { showApiError } from "./fielderrors.js";
import { watch } from "./task.js";

const SUBMITTED_STORE = "shotline.submitted";
const REMEMBERED_MAX = 200;
const PAGE_SIZE = "10";

let cursor = null;

export function remember(taskId, body) {
  const words = body.prompt || (body.multi_prompt || []).map((s) => s.prompt).join(" | ");
  const saved = JSON.parse(localStorage.getItem(SUBMITTED_STORE) || "{}");
  saved[taskId] = { prompt: words.slice(0, 160), shots: (body.multi_prompt || []).length,
    aspect: body.aspect_ratio, sound: body.sound };
  const ids = Object.keys(saved);
  for (const old of ids.slice(0, Math.max(0, ids.length - REMEMBERED_MAX))) delete saved[old];
  localStorage.setItem(SUBMITTED_STORE, JSON.stringify(saved));
}

export function recalled(taskId) {
  return JSON.parse(localStorage.getItem(SUBMITTED_STORE) || "{}")[taskId] || null;
}

export async function loadHistory(more = false) {
  if (!apiKey()) return;
  const params = new URLSearchParams({ limit: PAGE_SIZE });
  if (more && cursor) params.set("cursor", cursor);
  let page;
  try {
    page = await api("GET", `${API.tasks}?${params}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showApiError(err);
    return;
  }
  const list = $("history-list");
  const items = page.tasks.map(historyItem);
  if (more) list.append(...items);
  else list.replaceChildren(...items);
  cursor = page.next_cursor;
  $("history-more").hidden = !cursor;
  $("history-empty").hidden = list.children.length > 0;
}

export function clearHistory() {
  $("history-list").replaceChildren();
  $("history-more").hidden = true;
  $("history-empty").hidden = false;
}

function historyItem(body) {
  const { task } = body;
  const saved = recalled(task.task_id);
  const submitted = Number(body.extra && body.extra.debug_info && body.extra.debug_info.submit_time_ms);
  const when = submitted ? new Date(submitted).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "";
  const title = saved ? saved.prompt || "(empty prompt)" : `Task ${task.task_id}`;
  const details = [when, saved && saved.aspect, saved && saved.shots ? `${saved.shots} shots` : "",
    saved && saved.sound ? "sound" : ""].filter(Boolean).join(" · ");
  const badge = el("span", { className: "badge", textContent: STATUS_LABEL[task.status] || task.status });
  badge.dataset.status = task.status;
  const button = el("button", { type: "button", className: "history-item" },
    el("span", { className: "history-title", textContent: title }),
    el("span", { className: "history-details", textContent: details }), badge);
  button.addEventListener("click", () => {
    watch(task.task_id);
    $("current").scrollIntoView({ behavior: "smooth", block: "start" });
  });
  const item = el("li", {}, button);
  item.dataset.taskId = task.task_id;
  item.dataset.status = task.status;
  return item;
}
