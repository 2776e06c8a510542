// The public API, as any client calls it: the key from the page, errors in the contract's shape.

import { $ } from "./dom.js";

export const API = {
  create: "/v3/async/kling-v3.0-pro-t2v",
  result: "/v3/async/task-result",
  tasks: "/v3/async/tasks",
};
// The statuses that never change, as the server declares them (shotline/status.py, published in
// /openapi.json as TaskStatus's `x-terminal`): the page keeps no list of its own. Filled by loadStatuses().
export const TERMINAL = new Set();
let statusesLoading = null;

export function loadStatuses() {
  statusesLoading ??= fetch("/openapi.json")
    .then((response) => {
      if (!response.ok) throw new ApiError(response.status, null, null);
      return response.json();
    })
    .then((doc) => {
      for (const status of doc.components.schemas.TaskStatus["x-terminal"]) TERMINAL.add(status);
    })
    .catch((err) => {
      statusesLoading = null; // the next poll asks again
      throw err;
    });
  return statusesLoading;
}
export const STATUS_LABEL = {
  TASK_STATUS_QUEUED: "Queued",
  TASK_STATUS_PROCESSING: "Generating",
  TASK_STATUS_SUCCEED: "Done",
  TASK_STATUS_FAILED: "Failed",
  TASK_STATUS_CANCELED: "Canceled",
};

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.retryAfter = retryAfter;
  }
}

export function apiKey() {
  return $("api-key").value.trim();
}

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${apiKey()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data, response.headers.get("Retry-After"));
  return data;
}
