"""Dispatch through Celery (Redis or RabbitMQ as broker): the sending side, used by the API and by workers.

A message carries only a task id and is sent after the task row is committed. Sending can fail or be
lost (API killed between commit and send, broker restarted without persistence), so the row records when
its message was sent, and `redispatch` (run by every worker) sends again what may be missing. Duplicate
messages are harmless: a worker runs a task only if its claim (QUEUED → PROCESSING) succeeds.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from celery import Celery

from shotline.config import Settings

if TYPE_CHECKING:
    from shotline.db import DispatchLog

log = logging.getLogger("shotline.queue")
TASK_NAME = "shotline.run"


def make_celery(settings: Settings) -> Celery:
    app = Celery("shotline", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,  # a message is acknowledged after its task ran, not when it was received
        task_reject_on_worker_lost=True,  # a worker process that dies hands its message back
        worker_prefetch_multiplier=1,  # a worker holds one message: the task it runs
        task_ignore_result=True,  # results live in the task row
        task_default_queue=settings.celery_queue,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        # Never keep an API request waiting on a broker that is down: fail fast, redispatch later.
        task_publish_retry=False,
        broker_connection_timeout=2,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


class CeleryQueue:
    # How often the API process writes the "message sent" stamps of the tasks it dispatched, in one UPDATE.
    MARK_EVERY_S = 0.1

    def __init__(self, settings: Settings, dispatch: DispatchLog) -> None:
        self.settings = settings
        self.dispatch = dispatch
        self.app = make_celery(settings)
        self._sent: list[str] = []
        self._sent_lock = threading.Lock()
        self._stopping = threading.Event()
        self._marker: threading.Thread | None = None

    def start(self) -> None:
        """In the API process: stamp dispatches from a thread, in batches. The stamp only tells `redispatch`
        that a message went out, so it need not be in the request: a separate transaction per create cost
        2.1 ms of its 7.6 ms on PostgreSQL (bench/api.py). A stamp lost with the process costs one duplicate
        message after `redispatch_s`, which the claim makes harmless."""
        self._stopping.clear()
        self._marker = threading.Thread(target=self._mark_loop, name="shotline-dispatch-marks", daemon=True)
        self._marker.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._marker is not None:
            self._marker.join(5)
            self._marker = None
        try:
            self._flush_marks()
        except Exception:  # noqa: BLE001 - unstamped tasks only get a duplicate message later
            log.warning("could not record sent task messages at shutdown", exc_info=True)

    def notify(self, task_id: str) -> None:
        if not self.send([task_id]):
            return
        if self._marker is None:  # no marking thread (a worker handing a task back): stamp now
            self.dispatch.mark_dispatched([task_id])
            return
        with self._sent_lock:
            self._sent.append(task_id)

    def _mark_loop(self) -> None:
        while not self._stopping.wait(self.MARK_EVERY_S):
            try:
                self._flush_marks()
            except Exception:  # noqa: BLE001 - the database may be restarting; the ids stay for the next round
                log.warning("could not record sent task messages; will retry", exc_info=True)

    def _flush_marks(self) -> None:
        with self._sent_lock:
            ids, self._sent = self._sent, []
        try:
            self.dispatch.mark_dispatched(ids)
        except Exception:
            with self._sent_lock:
                self._sent = ids + self._sent
            raise

    def send(self, task_ids: list[str]) -> bool:
        try:
            with self.app.producer_or_acquire() as producer:
                for task_id in task_ids:
                    self.app.send_task(TASK_NAME, args=[task_id], queue=self.settings.celery_queue,
                                       producer=producer, retry=False)
        except Exception as err:
            log.warning("could not send %d task message(s) to the broker (%s); they will be re-sent",
                        len(task_ids), type(err).__name__)
            return False
        return True

    def backlog(self) -> int | None:
        """Messages waiting in the broker queue (None if the broker cannot be asked)."""
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1)
                return int(conn.default_channel.queue_declare(queue=self.settings.celery_queue, passive=True)
                           .message_count)
        except Exception as err:
            if "NOT_FOUND" in str(err) or "no queue" in str(err).lower():
                return 0
            return None

    def redispatch(self) -> int:
        """Send messages for QUEUED tasks that have none. Never-sent tasks are sent after a short grace;
        already-sent ones only when the broker's queue is empty while they still wait (their message was
        lost). Returns how many were sent."""
        backlog = self.backlog()
        ids = self.dispatch.needing_dispatch(self.settings.redispatch_s, resend=backlog == 0)
        if ids and self.send(ids):
            self.dispatch.mark_dispatched(ids)
            log.info("re-sent %d task message(s)", len(ids))
            return len(ids)
        return 0

    def check(self) -> str:
        return "ok" if self.backlog() is not None else f"broker unreachable at {_redact(self.settings.broker_url)}"


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.hostname else parts.scheme

