"""The webhook outbox: a row per (task, status change), claimed and settled by the API's senders.

A row is written inside the transaction that changes the task's status (`record_event`, called by
`TaskStore.transition`), so a status change and its webhook commit or vanish together: no event is lost
to a crash between the two, and none is sent for a change that did not happen. Workers only write rows;
sending happens in the API processes (shotline.webhooks.sender), so a slow receiver never holds up
generation.

A claim is a lease: the row's `next_attempt_ms` is pushed past the time a send can take. A sender that dies
mid-send leaves the row to be claimed again when the lease runs out (at-least-once; the `webhook-id` is the
receiver's key to drop duplicates).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shotline.db.connect import is_postgres, now_ms
from shotline.db.models import Task, WebhookDelivery
from shotline.status import TaskStatus

PENDING, DELIVERED, GAVE_UP = "pending", "delivered", "failed"


def iso_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_event(s: Session, task_id: str, status: TaskStatus) -> None:
    """Queue the webhook announcing that `task_id` is now `status`, in the caller's transaction (which has
    just made the change). Tasks without a webhook URL queue nothing."""
    event = status.event
    if event is None:
        return
    row = s.get(Task, task_id)
    url = json.loads(row.request_json).get("webhook_url") if row is not None else None
    if not url:
        return
    now = now_ms()
    # The task as it was at the change. The sender renders the full task-result body at send time (fresh
    # signed video_url), keeping these values, which a later change must not rewrite.
    snapshot = {
        "task_id": row.id, "task_type": row.task_type, "status": status.value,
        "reason": row.reason if status is TaskStatus.FAILED else "", "eta": 0,
        "progress_percent": 100 if status is TaskStatus.SUCCEED else row.progress,
    }
    s.add(WebhookDelivery(
        id=f"msg_{uuid.uuid4().hex}", task_id=row.id, owner=row.owner, url=url, event=event,
        payload_json=json.dumps({"type": event, "timestamp": iso_ms(now), "data": {"task": snapshot}}),
        state=PENDING, attempts=0, next_attempt_ms=now, last_error="", created_at_ms=now,
    ))


@dataclass(frozen=True)
class Delivery:
    id: str  # the `webhook-id` header
    task_id: str
    owner: str
    url: str
    event: str
    payload: dict[str, Any]
    attempts: int  # including the one this claim is for
    created_at_ms: int
    state: str = PENDING
    last_error: str = ""

    @classmethod
    def from_row(cls, row: WebhookDelivery, attempts: int | None = None) -> Delivery:
        return cls(row.id, row.task_id, row.owner, row.url, row.event, json.loads(row.payload_json),
                   row.attempts if attempts is None else attempts, row.created_at_ms, row.state, row.last_error)


class WebhookOutbox:
    def __init__(self, db: Engine) -> None:
        self.db = db
        self._session = sessionmaker(db, expire_on_commit=False)

    def claim_due(self, limit: int, lease_s: float) -> list[Delivery]:
        """Take up to `limit` due deliveries for `lease_s` seconds, oldest first; each claim counts an attempt."""
        now = now_ms()
        due = (select(WebhookDelivery)
               .where(WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_ms <= now)
               .order_by(WebhookDelivery.next_attempt_ms, WebhookDelivery.created_at_ms).limit(limit))
        claimed: list[Delivery] = []
        with self._session() as s:
            if is_postgres(self.db):
                # Rows another API process is claiming are locked: skip them rather than wait or double-send.
                rows = s.scalars(due.with_for_update(skip_locked=True)).all()
            else:
                rows = s.scalars(due).all()
                # End the read first: a SQLite read transaction cannot become a write once another process
                # has written. The conditional UPDATE below is what decides who owns a row.
                s.commit()
            for row in rows:
                taken = s.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == row.id, WebhookDelivery.state == PENDING,
                           WebhookDelivery.next_attempt_ms == row.next_attempt_ms)
                    .values(next_attempt_ms=now + int(lease_s * 1000), attempts=row.attempts + 1),
                    execution_options={"synchronize_session": False},
                ).rowcount
                if taken == 1:
                    claimed.append(Delivery.from_row(row, attempts=row.attempts + 1))
            s.commit()
        return claimed

    def delivered(self, delivery: Delivery) -> None:
        self._settle(delivery, state=DELIVERED, delivered_at_ms=now_ms(), last_error="")

    def retry_later(self, delivery: Delivery, error: str, delay_s: float) -> None:
        self._settle(delivery, next_attempt_ms=now_ms() + int(delay_s * 1000), last_error=error[:2000])

    def give_up(self, delivery: Delivery, error: str) -> None:
        self._settle(delivery, state=GAVE_UP, last_error=error[:2000])

    def _settle(self, delivery: Delivery, **values: Any) -> None:
        # Only the claim that made this attempt may settle it: a sender whose lease ran out (and whose row
        # was claimed again) must not reschedule the newer attempt.
        with self._session() as s:
            s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id, WebhookDelivery.state == PENDING,
                       WebhookDelivery.attempts == delivery.attempts)
                .values(**values),
                execution_options={"synchronize_session": False},
            )
            s.commit()

    def for_task(self, task_id: str) -> list[Delivery]:
        with self._session() as s:
            rows = s.scalars(select(WebhookDelivery).where(WebhookDelivery.task_id == task_id)
                             .order_by(WebhookDelivery.created_at_ms)).all()
            return [Delivery.from_row(r) for r in rows]

    def count(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)
