"""Drains the webhook outbox: a thread in each API process, started and stopped with the app.

Workers never send: they only write outbox rows with their status changes (db/webhooks.py), so a slow
or dead receiver cannot delay generation. Each round claims a few due deliveries (a lease, so several API
processes never send the same one at once), sends each task's in the order they happened and different
tasks side by side, and settles each one: delivered on a 2xx, else rescheduled along
`webhook_retry_schedule_s`, and given up (state `failed`, with the last error) after the last retry. A
retried event can still arrive after a later one; receivers order by the payload's `timestamp`.

Signing follows the Standard Webhooks specification through its reference library. The `webhook-id` is
the outbox row's id, the same on every retry; the timestamp and signature are made per attempt, because
receivers refuse signatures older than a few minutes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
from standardwebhooks import Webhook

from shotline import __version__
from shotline.config import Settings
from shotline.db import KeyStore, TaskRecord, TaskStore
from shotline.db.webhooks import Delivery, WebhookOutbox
from shotline.errors import UnsafeUrl
from shotline.status import TaskStatus
from shotline.webhooks.guard import check

log = logging.getLogger("shotline.webhooks")

BATCH = 8  # deliveries claimed per round, and the threads that send them

# Renders a task as the body its API answers with (the Kling task-result), video links made for a base URL.
Render = Callable[[TaskRecord, str], dict[str, Any]]


class WebhookSender:
    def __init__(self, settings: Settings, outbox: WebhookOutbox, *, tasks: TaskStore, keys: KeyStore,
                 render: Render) -> None:
        self.settings, self.outbox = settings, outbox
        self.tasks, self.keys, self._render = tasks, keys, render
        # A claim must outlast the round that sends it: at worst one task's whole batch, one after another.
        self.lease_s = BATCH * self.settings.webhook_timeout_s + 30
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        """Where the video links in webhooks point: there is no request to take the address from."""
        if self.settings.public_url:
            return self.settings.public_url
        host = self.settings.host if self.settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.settings.port}/"

    # ----------------------------------------------------------------------------------------- lifecycle

    def open(self) -> None:
        if self._http is None:
            # Redirects are not followed: a public URL could otherwise bounce the POST into the private network.
            self._http = httpx.Client(timeout=self.settings.webhook_timeout_s, follow_redirects=False,
                                      headers={"User-Agent": f"Shotline-Webhooks/{__version__}"})
            self._pool = ThreadPoolExecutor(max_workers=BATCH, thread_name_prefix="shotline-webhook")

    def start(self) -> None:
        """Send in a background thread until `stop()`."""
        self.open()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="shotline-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the round in flight; what is not settled stays in the outbox for the next start."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.webhook_timeout_s + 5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._http is not None:
            self._http.close()
        self._http = self._pool = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                sent = self.run_once()
            except Exception:
                log.exception("webhook round failed")
                sent = 0
            if not sent:
                self._stopping.wait(self.settings.webhook_poll_s)

    def run_once(self) -> int:
        """One round: claim what is due, send it, settle it. Returns how many deliveries were attempted."""
        due = self.outbox.claim_due(BATCH, self.lease_s)
        by_task: dict[str, list[Delivery]] = defaultdict(list)
        # Claims come in retry order; a task's events that are due together go out in the order they happened
        # (within one millisecond, a start comes before an end).
        for delivery in sorted(due, key=lambda d: (d.created_at_ms, d.event != "task.processing")):
            by_task[delivery.task_id].append(delivery)
        self.open()
        assert self._pool is not None
        list(self._pool.map(self._deliver_in_order, by_task.values()))
        return len(due)

    def _deliver_in_order(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self.deliver(delivery)

    # ------------------------------------------------------------------------------------------ delivery

    def deliver(self, delivery: Delivery) -> None:
        try:
            error = self._attempt(delivery)
        except Exception as err:
            log.exception("webhook %s: attempt failed", delivery.id)
            error = f"internal error while sending ({type(err).__name__})"
        if error is None:
            self.outbox.delivered(delivery)
            return
        schedule = self.settings.webhook_retry_schedule_s
        if delivery.attempts <= len(schedule):
            self.outbox.retry_later(delivery, error, schedule[delivery.attempts - 1])
        else:
            log.warning("webhook %s (%s of task %s) given up after %d attempts: %s", delivery.id, delivery.event,
                        delivery.task_id, delivery.attempts, error)
            self.outbox.give_up(delivery, error)

    def _attempt(self, delivery: Delivery) -> str | None:
        """Send once; None when the receiver answered 2xx, else what went wrong."""
        secret = self.keys.webhook_secret(delivery.owner)
        if secret is None:
            return f"the API key {delivery.owner} has no webhook secret"
        try:
            target = check(delivery.url, allow_private=self.settings.webhook_allow_private)
        except UnsafeUrl as err:
            return f"refused: {err}"
        body = json.dumps({**delivery.payload, "data": self.render(delivery)}, separators=(",", ":"))
        now = dt.datetime.now(dt.UTC)
        headers = {
            **target.headers,
            "Content-Type": "application/json",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(delivery.id, now, body),
        }
        assert self._http is not None, "open() first"
        try:
            response = self._http.post(target.url, content=body.encode(), headers=headers,
                                       extensions=target.extensions)
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"

    def render(self, delivery: Delivery) -> dict[str, Any]:
        """The task-result body (as GET /v3/async/task-result answers) as of the event: a fresh signed
        video_url, but the status, progress and reason the task had when the event happened."""
        recorded = delivery.payload["data"]
        task = self.tasks.get(delivery.task_id)
        if task is None:  # deleted since: what was recorded is all there is
            return recorded
        snap = recorded["task"]
        status = TaskStatus(snap["status"])
        at_event = replace(task, status=status, progress=snap["progress_percent"], reason=snap["reason"])
        if not status.is_terminal:
            at_event = replace(at_event, finished_at_ms=None, result_key=None)
        return self._render(at_event, self.base_url)
