"""Recovery: tasks left PROCESSING by a worker that is gone go back to the queue, or end.

A worker renews its lease every `heartbeat_s`. A task is orphaned when its lease expired, or at once when
its worker ran on this host and its process is gone (the caller's `is_gone`). It is requeued with its
attempt counted; after `max_attempts` it ends FAILED with a reason; one whose cancel was asked ends CANCELED.
Every change is a typed transition named for the dead worker, so a worker that comes back late changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from shotline.db.connect import now_ms
from shotline.db.models import Task
from shotline.db.tasks import TaskStore
from shotline.status import TaskStatus


def recover_orphans(tasks: TaskStore, is_gone: Callable[[str], bool],
                    max_attempts: int) -> list[tuple[str, TaskStatus]]:
    """Requeue (or fail, after `max_attempts`) every PROCESSING task whose worker is gone: its lease
    expired, or `is_gone(worker_id)` says the process no longer exists. Returns (task id, new status)."""
    now = now_ms()
    with tasks.session() as s:
        rows = s.execute(
            select(Task.id, Task.worker_id, Task.lease_expires_ms, Task.attempts, Task.cancel_requested).where(
                Task.status == TaskStatus.PROCESSING.value
            )
        ).all()
    outcome: list[tuple[str, TaskStatus]] = []
    for task_id, worker_id, lease, attempts, cancel in rows:
        expired = lease is None or lease < now
        if not expired and not (worker_id and is_gone(worker_id)):
            continue
        if cancel:
            if tasks.cancel(task_id, owned_by=worker_id):
                outcome.append((task_id, TaskStatus.CANCELED))
        elif attempts >= max_attempts:
            reason = (
                f"the worker stopped {attempts} times while generating this video (crash, restart or "
                "out of memory), so it was given up; try a shorter duration, or contact the operator"
            )
            if tasks.fail(task_id, reason, owned_by=worker_id):
                outcome.append((task_id, TaskStatus.FAILED))
        elif tasks.requeue(task_id, worker_id, count_attempt=True):
            outcome.append((task_id, TaskStatus.QUEUED))
    return outcome
