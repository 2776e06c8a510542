"""`shotline worker`: a Celery worker process that loads its engine once and runs tasks one at a time.

One process per GPU (`--pool solo`): the engine lives in the process that runs the tasks, and a task
never shares its GPU. Besides running tasks, each worker keeps the system healthy from a maintenance
thread: it renews its leases, requeues tasks whose worker died (lease expired), and re-sends messages that
may have been lost. SIGTERM finishes the current step, keeps finished shots as checkpoints, hands the task
back and sends its message again, then exits.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import signals

from shotline.config import Settings
from shotline.db import DispatchLog
from shotline.queue.celery_queue import TASK_NAME, CeleryQueue
from shotline.worker import Worker

log = logging.getLogger("shotline.worker")


def run_worker(settings: Settings, name: str | None = None) -> None:
    worker = Worker(settings)
    queue = CeleryQueue(settings, DispatchLog(worker.tasks.db))
    worker.on_requeue = queue.notify
    app = queue.app

    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run(task_id: str) -> None:
        # The message names a task, but the row decides: run it if it is still queued, otherwise run the
        # oldest queued task (its own message may have been lost), otherwise nothing (a duplicate).
        worker.run_one(task_id)

    def maintenance() -> None:
        from shotline.retention import PeriodicGc

        gc = PeriodicGc(settings, worker.tasks, worker.storage)
        last_recover = 0.0
        while not worker.stopping.wait(min(settings.heartbeat_s, settings.redispatch_s / 2)):
            try:
                if time.monotonic() - last_recover > max(1.0, settings.lease_s / 3):
                    worker.recover()
                    last_recover = time.monotonic()
                queue.redispatch()
                gc.maybe_run()
            except Exception:
                log.warning("maintenance round failed", exc_info=True)

    @signals.worker_shutting_down.connect
    def _stop(**_kwargs: Any) -> None:
        worker.stopping.set()

    worker.start_heartbeat()
    worker.load()
    threading.Thread(target=maintenance, name="shotline-maintenance", daemon=True).start()
    argv = [
        "worker", "--pool=solo", "--concurrency=1", f"--queues={settings.celery_queue}",
        f"--loglevel={settings.log_level}", "--without-gossip", "--without-mingle", "--without-heartbeat",
        f"--hostname={name or 'shotline@%h-' + worker.worker_id.split(':')[1]}",
    ]
    try:
        app.worker_main(argv=argv)
    finally:
        worker.stopping.set()
        worker.workers.heartbeat(worker.worker_id, state="stopped")
