// The server's error body names fields (`duration`, `extra.seed`, `multi_prompt[1].duration`,
// `Authorization`); each message goes next to the field it names, or to the form's banner.

import { ApiError } from "./api.js";
import { $ } from "./dom.js";

function fieldAndParents(field) {
  // `multi_prompt[1].duration` → [`multi_prompt[1].duration`, `multi_prompt[1]`, `multi_prompt`]
  const names = [];
  for (let name = field; name; name = name.replace(/(\.[^.[\]]+|\[\d+\])$/, "")) {
    if (names.includes(name)) break;
    names.push(name);
  }
  return names;
}

function slotFor(name) {
  return document.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
}

function inputFor(name) {
  return document.querySelector(`[data-field="${CSS.escape(name)}"]`);
}

export function clearErrors() {
  document.querySelectorAll("[data-error-for]").forEach((slot) => { slot.textContent = ""; });
  document.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
  $("form-error").hidden = true;
  $("form-error").textContent = "";
}

export function clearFieldError(field) {
  // An edit answers the error on its own field and on what contains it; the shots' total also
  // depends on `duration`.
  const names = fieldAndParents(field);
  if (field === "duration") names.push("multi_prompt");
  for (const name of names) {
    const slot = slotFor(name);
    if (slot) slot.textContent = "";
    const input = inputFor(name);
    if (input) input.removeAttribute("aria-invalid");
  }
}

export function showFormError(text) {
  $("form-error").textContent = text;
  $("form-error").hidden = false;
}

export function showFieldError(field, message) {
  // The nearest slot: the field's own, else its shot's, else the shot list's; else the banner.
  const slot = field ? fieldAndParents(field).map(slotFor).find(Boolean) : null;
  if (!slot) {
    showFormError(message);
    return null;
  }
  const text = message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
  slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
  const input = inputFor(slot.dataset.errorFor);
  if (input) input.setAttribute("aria-invalid", "true");
  return input;
}

export function showApiError(err) {
  if (!(err instanceof ApiError)) {
    showFormError(`Could not reach the server (${err.message}). Is it running?`);
    return;
  }
  const meta = err.body.metadata || {};
  const items = Array.isArray(meta.errors) && meta.errors.length ? meta.errors : [{ field: meta.field, message: err.message }];
  let first = null;
  for (const item of items) {
    const input = showFieldError(item.field, item.message || err.message);
    first = first || input;
  }
  if (err.status === 429 && err.retryAfter) showFormError(`${err.message} (retry in ${err.retryAfter} s)`);
  if (first && typeof first.focus === "function") first.focus();
}
