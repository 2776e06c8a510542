"""Task rows: create, read, list, delete, and the typed status changes (claim, succeed, fail, cancel,
requeue, release).

Every status change goes through `transition`, a conditional UPDATE (`... WHERE status IN (allowed
sources)`, the sources read from shotline.status), so it is atomic across processes and a terminal task can
never change again, whoever tries. The typed methods say what each change writes, so no caller writes
columns itself. A worker's writes also name the worker (`worker_id`), so a worker that lost its claim (its
lease expired and the task was requeued) cannot overwrite the new run's state.

Dispatch stamps (db/dispatch.py), worker rows (db/workers.py) and recovery of orphaned tasks
(db/recovery.py) live beside this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, case, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from shotline.db.connect import is_postgres, now_ms
from shotline.db.models import Task
from shotline.db.webhooks import record_event
from shotline.errors import IdempotencyConflict, QuotaExceeded
from shotline.ids import new_task_id
from shotline.request import TASK_TYPE, GenerationRequest
from shotline.status import LIVE, TaskStatus, allowed_sources

IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000
# Below this many free places in a key's quota, creates take the per-key lock (see `TaskStore.create`). It
# bounds the overshoot to the creates of one key that race in the same instant far from the limit: none.
UNLOCKED_MARGIN = 64


@dataclass(frozen=True)
class NewTask:
    owner: str
    request: GenerationRequest
    engine: str
    seed: int
    request_hash: str
    idempotency_key: str | None = None
    request_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    plan: str | None = None  # the plan made at submit, serialized (shotline/plans.py); the worker runs it


@dataclass(frozen=True)
class TaskRecord:
    id: str
    owner: str
    task_type: str
    status: TaskStatus
    progress: int
    request: GenerationRequest
    engine: str
    seed: int
    created_at_ms: int
    started_at_ms: int | None
    finished_at_ms: int | None
    attempts: int
    worker_id: str | None
    cancel_requested: bool
    result_key: str | None
    reason: str
    result_extra: dict[str, Any]
    request_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    plan: str | None = None

    @classmethod
    def from_row(cls, row: Task) -> TaskRecord:
        return cls(
            id=row.id,
            owner=row.owner,
            task_type=row.task_type,
            status=TaskStatus(row.status),
            progress=row.progress,
            request=GenerationRequest.model_validate_json(row.request_json),
            engine=row.engine,
            seed=row.seed,
            created_at_ms=row.created_at_ms,
            started_at_ms=row.started_at_ms,
            finished_at_ms=row.finished_at_ms,
            attempts=row.attempts,
            worker_id=row.worker_id,
            cancel_requested=row.cancel_requested,
            result_key=row.result_key,
            reason=row.reason,
            result_extra=json.loads(row.result_extra_json or "{}"),
            request_id=row.request_id,
            meta=json.loads(row.meta_json or "{}"),
            plan=row.plan_json,
        )


class TaskStore:
    def __init__(self, db: Engine) -> None:
        self.db = db
        self._session = sessionmaker(db, expire_on_commit=False)

    def session(self) -> Session:
        return self._session()

    # ------------------------------------------------------------------------------------------- create

    def create(self, new: NewTask, max_active: int | None = None) -> tuple[TaskRecord, bool]:
        """Insert a QUEUED task. Returns (task, created); with an Idempotency-Key seen in the last 24 h
        and the same body, the earlier task comes back with created=False; a different body is a 409.
        With `max_active`, refuses (QuotaExceeded) when the owner already has that many tasks queued or
        running. Near the limit the count and the insert share one per-owner lock, so concurrent submits
        cannot overshoot; far below it (more than UNLOCKED_MARGIN places left) PostgreSQL creates skip the
        lock, so one busy key's submits do not queue behind each other."""
        for _ in range(3):
            with self.session() as s:
                locked = self._lock_owner(s, new.owner, max_active)
                if new.idempotency_key is not None:
                    earlier = self._by_idempotency_key(s, new.owner, new.idempotency_key)
                    if earlier is not None:
                        if now_ms() - earlier.created_at_ms < IDEMPOTENCY_WINDOW_MS:
                            if earlier.request_hash != new.request_hash:
                                raise IdempotencyConflict(
                                    "Idempotency-Key: was already used with a different request body "
                                    f"(task {earlier.id}); use a new key for a new request",
                                    field="Idempotency-Key",
                                )
                            return TaskRecord.from_row(earlier), False
                        earlier.idempotency_key = None  # expired: the key is free again
                if max_active is not None:
                    active = self._active_count(s, new.owner)
                    if not locked and active >= max_active - UNLOCKED_MARGIN:
                        locked = self._lock_owner(s, new.owner, max_active, force=True)
                        active = self._active_count(s, new.owner)
                    if active >= max_active:
                        raise QuotaExceeded(active, max_active)
                now = now_ms()
                row = Task(
                    id=new_task_id(),
                    owner=new.owner,
                    task_type=TASK_TYPE,
                    status=TaskStatus.QUEUED.value,
                    progress=0,
                    request_json=new.request.model_dump_json(),
                    engine=new.engine,
                    seed=new.seed,
                    idempotency_key=new.idempotency_key,
                    request_hash=new.request_hash,
                    queued_at_us=_now_us(),
                    created_at_ms=now,
                    attempts=0,
                    cancel_requested=False,
                    reason="",
                    result_extra_json="{}",
                    request_id=new.request_id,
                    meta_json=json.dumps(new.meta),
                    plan_json=new.plan,
                )
                s.add(row)
                try:
                    s.commit()
                except IntegrityError:
                    # Two requests with one Idempotency-Key raced; the loser reads the winner's row.
                    s.rollback()
                    continue
                return TaskRecord.from_row(row), True
        raise IdempotencyConflict("Idempotency-Key: is being used by concurrent requests; retry",
                                  field="Idempotency-Key")

    def _lock_owner(self, s: Session, owner: str, max_active: int | None, force: bool = False) -> bool:
        """Serialize one owner's creates where the quota count and the insert must see the same state.
        SQLite: always (BEGIN IMMEDIATE must open the transaction, and SQLite serializes writes anyway).
        PostgreSQL: only when asked (`force`), near the limit. Returns whether the owner is now locked."""
        if not is_postgres(self.db):
            s.connection(execution_options={"write_lock": True})
            return True
        if force and max_active is not None:
            s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:owner))"), {"owner": owner})
            return True
        return False

    @staticmethod
    def _active_count(s: Session, owner: str) -> int:
        return int(s.scalar(_ACTIVE_COUNT, {"owner": owner}) or 0)

    @staticmethod
    def _by_idempotency_key(s: Session, owner: str, key: str) -> Task | None:
        return s.scalars(select(Task).where(Task.owner == owner, Task.idempotency_key == key)).first()

    # --------------------------------------------------------------------------------------------- read

    def get(self, task_id: str, owner: str | None = None) -> TaskRecord | None:
        with self.session() as s:
            q = select(Task).where(Task.id == task_id)
            if owner is not None:
                q = q.where(Task.owner == owner)
            row = s.scalars(q).first()
            return TaskRecord.from_row(row) if row else None

    def get_with_ahead(self, task_id: str, owner: str) -> tuple[TaskRecord, int] | None:
        """The owner's task and, while it is queued, how many tasks run or wait before it (0 otherwise), in
        one statement: what a status poll needs, through the primary key and the (status, queued_at_us) index."""
        with self.session() as s:
            row = s.execute(_STATUS_QUERY, {"task_id": task_id, "owner": owner}).first()
            return (TaskRecord.from_row(row[0]), int(row[1] or 0)) if row else None

    def queue_position(self, task: TaskRecord) -> int:
        """How many queued tasks are ahead of this one."""
        with self.session() as s:
            mine = select(Task.queued_at_us).where(Task.id == task.id).scalar_subquery()
            return s.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.status == TaskStatus.QUEUED.value, Task.queued_at_us < mine)
            ) or 0

    def processing_count(self) -> int:
        with self.session() as s:
            return s.scalar(
                select(func.count()).select_from(Task).where(Task.status == TaskStatus.PROCESSING.value)
            ) or 0

    def recent_run_seconds(self, engine: str, limit: int = 20) -> list[float]:
        """Wall seconds of the last successful runs on this engine (for ETAs)."""
        with self.session() as s:
            rows = s.execute(
                select(Task.started_at_ms, Task.finished_at_ms)
                .where(Task.engine == engine, Task.status == TaskStatus.SUCCEED.value)
                .order_by(Task.finished_at_ms.desc())
                .limit(limit)
            ).all()
        return [(f - st) / 1000 for st, f in rows if st is not None and f is not None]

    # ---------------------------------------------------------------------------------- status changes

    def transition(self, task_id: str, target: TaskStatus, *, owned_by: str | None = None,
                   only_from: Iterable[TaskStatus] | None = None, _values: Mapping[str, Any] | None = None) -> bool:
        """Move a task to `target` if the rules (shotline.status) allow it from its current status; returns
        whether it moved.

        The only way a status changes; the typed methods below (claim, succeed, fail, cancel, requeue,
        release) call it with what their change writes. `owned_by` moves only that worker's claim;
        `only_from` narrows the allowed sources further (a claim takes only QUEUED tasks). The webhook
        outbox row is written in the same transaction (db/webhooks.py)."""
        sources = allowed_sources(target)
        if only_from is not None:
            sources = sources & frozenset(only_from)
        if not sources:
            return False
        values: dict[str, Any] = {**(_values or {}), "status": target.value}
        if target.is_terminal:
            values.setdefault("finished_at_ms", now_ms())
            values.setdefault("lease_expires_ms", None)
        stmt = update(Task).where(Task.id == task_id, Task.status.in_(sorted(s.value for s in sources)))
        if owned_by is not None:
            stmt = stmt.where(Task.worker_id == owned_by)
        with self.session() as s:
            moved = s.execute(stmt.values(**values)).rowcount == 1
            if moved:
                record_event(s, task_id, target)  # the webhook commits with the change, or neither does
            s.commit()
            return moved

    def claim_next(self, worker_id: str, lease_s: float) -> TaskRecord | None:
        """Take the oldest queued task for `worker_id` (QUEUED → PROCESSING), or None if there is none."""
        for _ in range(5):
            with self.session() as s:
                candidate = s.scalar(
                    select(Task.id)
                    .where(Task.status == TaskStatus.QUEUED.value)
                    .order_by(Task.queued_at_us)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            if candidate is None:
                return None
            claimed = self.claim(candidate, worker_id, lease_s)
            if claimed is not None:
                return claimed
        return None

    def claim(self, task_id: str, worker_id: str, lease_s: float) -> TaskRecord | None:
        """Start one queued task under `worker_id` (QUEUED → PROCESSING, counting the attempt); None if it is
        no longer queued (someone else has it, or it ended)."""
        now = now_ms()
        moved = self.transition(task_id, TaskStatus.PROCESSING, only_from=[TaskStatus.QUEUED], _values={
            "worker_id": worker_id,
            "lease_expires_ms": now + int(lease_s * 1000),
            "started_at_ms": func.coalesce(Task.started_at_ms, now),
            "attempts": Task.attempts + 1,
        })
        return self.get(task_id) if moved else None

    def succeed(self, task_id: str, *, owned_by: str | None, result_key: str | None = None, labels: Mapping[str, str] | None = None,
                generate_s: float | None = None, encode_s: float | None = None) -> bool:
        """The video is stored at `result_key`: SUCCEED, progress 100, with the labels the result carries in
        `extra` and the seconds spent in the model and in encoding (for /metrics)."""
        return self.transition(task_id, TaskStatus.SUCCEED, owned_by=owned_by, _values={
            "result_key": result_key, "progress": 100, "result_extra_json": json.dumps(dict(labels or {})),
            "generate_s": generate_s, "encode_s": encode_s,
        })

    def fail(self, task_id: str, reason: str, *, owned_by: str | None = None) -> bool:
        """End the task FAILED with `reason`, a sentence the user can act on."""
        return self.transition(task_id, TaskStatus.FAILED, owned_by=owned_by, _values={"reason": reason})

    def cancel(self, task_id: str, *, owned_by: str | None = None, only_queued: bool = False) -> bool:
        """End the task CANCELED (`only_queued`: only if it has not started)."""
        return self.transition(task_id, TaskStatus.CANCELED, owned_by=owned_by,
                               only_from=[TaskStatus.QUEUED] if only_queued else None)

    def requeue(self, task_id: str, owned_by: str | None, *, count_attempt: bool = True) -> bool:
        """Put a running task back in the queue (its worker is gone, or handed it back). Without
        `count_attempt`, the attempt its claim counted is given back."""
        # dispatched_at_ms=None: a brokered queue must send the task again.
        values: dict[str, Any] = {"worker_id": None, "lease_expires_ms": None, "dispatched_at_ms": None}
        if not count_attempt:
            values["attempts"] = Task.attempts - 1
        return self.transition(task_id, TaskStatus.QUEUED, owned_by=owned_by, _values=values)

    def release(self, task_id: str, worker_id: str) -> bool:
        """Give a claimed task back to the queue without counting the attempt (graceful shutdown)."""
        return self.requeue(task_id, worker_id, count_attempt=False)

    def set_progress(self, task_id: str, worker_id: str, percent: int) -> None:
        """Raise the task's progress; it never goes down, even when a requeued task starts over."""
        percent = max(0, min(100, int(percent)))
        with self.session() as s:
            s.execute(
                update(Task)
                .where(Task.id == task_id, Task.worker_id == worker_id, Task.progress < percent)
                .values(progress=percent)
            )
            s.commit()

    def cancel_requested(self, task_id: str) -> bool:
        with self.session() as s:
            return bool(s.scalar(select(Task.cancel_requested).where(Task.id == task_id)))

    def renew_lease(self, worker_id: str, lease_s: float) -> None:
        """Extend the lease on every task `worker_id` runs (its heartbeat)."""
        with self.session() as s:
            s.execute(
                update(Task)
                .where(Task.worker_id == worker_id, Task.status == TaskStatus.PROCESSING.value)
                .values(lease_expires_ms=now_ms() + int(lease_s * 1000))
            )
            s.commit()

    # ----------------------------------------------------------------------------------- cancel, list

    def request_cancel(self, task_id: str, owner: str) -> tuple[TaskRecord | None, bool]:
        """Cancel a task: a queued one ends CANCELED now; a running one is flagged and its worker stops
        at the next step. Returns (the task afterwards or None if it is not the owner's, whether it was
        still live); a task that had already ended is left as it was."""
        task = self.get(task_id, owner=owner)
        if task is None or task.status.is_terminal:
            return task, False
        if not self.cancel(task_id, only_queued=True):
            # It was claimed meanwhile (or is running): ask its worker to stop.
            with self.session() as s:
                s.execute(
                    update(Task)
                    .where(Task.id == task_id, Task.status == TaskStatus.PROCESSING.value)
                    .values(cancel_requested=True)
                )
                s.commit()
        return self.get(task_id), True

    def list_page(self, owner: str, *, status: TaskStatus | None, limit: int,
                  before: tuple[int, str] | None, oldest_first: bool = False) -> list[TaskRecord]:
        """The owner's tasks, newest first (or oldest first); `before` is the (created_at_ms, id) of the
        last one seen, in that order."""
        q = select(Task).where(Task.owner == owner)
        if status is not None:
            q = q.where(Task.status == status.value)
        if before is not None:
            created, task_id = before
            if oldest_first:
                q = q.where((Task.created_at_ms > created) | ((Task.created_at_ms == created) & (Task.id > task_id)))
            else:
                q = q.where((Task.created_at_ms < created) | ((Task.created_at_ms == created) & (Task.id < task_id)))
        if oldest_first:
            q = q.order_by(Task.created_at_ms.asc(), Task.id.asc()).limit(limit)
        else:
            q = q.order_by(Task.created_at_ms.desc(), Task.id.desc()).limit(limit)
        with self.session() as s:
            return [TaskRecord.from_row(r) for r in s.scalars(q).all()]

    def delete_ended(self, task_id: str, owner: str) -> TaskRecord | None:
        """Remove one of the owner's tasks that has ended (a live task's worker still writes to its row);
        returns the row as it was, or None if there was no such ended task."""
        task = self.get(task_id, owner=owner)
        if task is None or not task.status.is_terminal:
            return None
        with self.session() as s:
            gone = s.execute(delete(Task).where(Task.id == task_id, Task.owner == owner,
                                                Task.status == task.status.value))
            s.commit()
        return task if gone.rowcount == 1 else None


def _now_us() -> int:
    return time.time_ns() // 1000


def _status_query():
    # Built once: building a statement with an aliased subquery costs more than running it.
    other = aliased(Task)
    queued, running = TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value
    waiting = (select(func.count()).select_from(other)
               .where(other.status == queued, other.queued_at_us < Task.queued_at_us)
               .correlate(Task).scalar_subquery())
    processing = select(func.count()).select_from(other).where(other.status == running).scalar_subquery()
    ahead = case((Task.status == queued, waiting + processing), else_=0)
    return select(Task, ahead).where(Task.id == bindparam("task_id"), Task.owner == bindparam("owner"))


_STATUS_QUERY = _status_query()
# Every create counts the owner's live tasks: built once, like the status query.
_ACTIVE_COUNT = select(func.count()).select_from(Task).where(
    Task.owner == bindparam("owner"), Task.status.in_(sorted(s.value for s in LIVE)))
