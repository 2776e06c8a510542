// Shotline playground: a plain client of the public API (ES modules, no framework, no build step).
// The server is the judge of every value: the page only warns, then shows the server's field errors.

import { API, api, apiKey } from "./api.js";
import { $ } from "./dom.js";
import { clearErrors, clearFieldError, showApiError, showFieldError } from "./fielderrors.js";
import { addShot, buildRequest, setMode, updateTotal } from "./form.js";
import { clearHistory, loadHistory, remember } from "./history.js";
import { cancelWatched, watch } from "./task.js";

const KEY_STORE = "shotline.apiKey";
const PROMPT_MAX = 2500;
const ONE_COLUMN = "(max-width: 959px)"; // style.css puts the form beside the result from 960px

async function submit(event) {
  event.preventDefault();
  clearErrors();
  if (!apiKey()) {
    showFieldError("Authorization", "Enter your API key first.");
    $("api-key").focus();
    return;
  }
  const body = buildRequest();
  $("submit").disabled = true;
  $("submit").textContent = "Submitting…";
  try {
    const { task_id: taskId } = await api("POST", API.create, body);
    remember(taskId, body);
    watch(taskId, { justCreated: true });
    loadHistory();
    // One column (a phone): the progress is below the form, so bring it into view.
    if (window.matchMedia(ONE_COLUMN).matches) $("current").scrollIntoView({ behavior: "smooth", block: "start" });
  } catch (err) {
    showApiError(err);
  } finally {
    $("submit").disabled = false;
    $("submit").textContent = "Generate";
  }
}

function setupKey() {
  const key = $("api-key");
  key.value = localStorage.getItem(KEY_STORE) || "";
  key.addEventListener("change", () => {
    localStorage.setItem(KEY_STORE, apiKey());
    clearFieldError("Authorization");
    loadHistory();
  });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    key.dispatchEvent(new Event("change"));
  });
  $("key-show").addEventListener("click", () => {
    const show = key.type === "password";
    key.type = show ? "text" : "password";
    $("key-show").textContent = show ? "Hide" : "Show";
    $("key-show").setAttribute("aria-pressed", String(show));
  });
  $("key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORE);
    key.value = "";
    clearHistory();
  });
}

function setup() {
  setupKey();
  const form = $("create-form");
  form.addEventListener("submit", submit);
  form.addEventListener("input", (event) => {
    if (event.target.dataset && event.target.dataset.field) clearFieldError(event.target.dataset.field);
    updateTotal();
  });
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", () => setMode(radio.value));
  }
  $("add-shot").addEventListener("click", () => addShot().querySelector("textarea").focus());
  $("prompt").addEventListener("input", () => {
    const n = $("prompt").value.length;
    $("prompt-count").textContent = `${n} / ${PROMPT_MAX}`;
    $("prompt-count").classList.toggle("over", n > PROMPT_MAX);
  });
  $("cfg").addEventListener("input", () => { $("cfg-value").value = Number($("cfg").value).toFixed(2); });
  $("cancel").addEventListener("click", cancelWatched);
  $("history-refresh").addEventListener("click", () => loadHistory());
  $("history-more").addEventListener("click", () => loadHistory(true));
  setMode(document.querySelector('input[name="mode"]:checked').value);
  loadHistory();
}

setup(); // module scripts run after the document is parsed
