"""Dispatch stamps: when a brokered queue last sent a task's message (`tasks.dispatched_at_ms`).

The task row is the queue; a broker message only wakes a worker. A stamp lets the API find queued tasks
whose message was never sent (the process died between commit and send) or was lost with a broker
restart, and send them again (queue/celery_queue.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import sessionmaker

from shotline.db.connect import now_ms
from shotline.db.models import Task
from shotline.status import TaskStatus


class DispatchLog:
    def __init__(self, db: Engine) -> None:
        self.db = db
        self._session = sessionmaker(db, expire_on_commit=False)

    def mark_dispatched(self, task_ids: Iterable[str]) -> None:
        ids = list(task_ids)
        if not ids:
            return
        with self._session() as s:
            s.execute(update(Task).where(Task.id.in_(ids)).values(dispatched_at_ms=now_ms()))
            s.commit()

    def needing_dispatch(self, older_than_s: float, *, resend: bool, limit: int = 500) -> list[str]:
        """QUEUED tasks whose message was never sent (and is not just being sent), or, with `resend`, was
        sent more than `older_than_s` ago (it may have been lost with a broker restart)."""
        cutoff = now_ms() - int(older_than_s * 1000)
        never_sent = Task.dispatched_at_ms.is_(None) & (Task.created_at_ms < cutoff)
        cond = (never_sent | (Task.dispatched_at_ms < cutoff)) if resend else never_sent
        with self._session() as s:
            return list(s.scalars(
                select(Task.id).where(Task.status == TaskStatus.QUEUED.value, cond)
                .order_by(Task.queued_at_us).limit(limit)
            ).all())
