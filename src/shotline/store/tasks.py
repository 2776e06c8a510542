"""Task rows: create, read, claim, and the one function that changes a status.

Every status change is a conditional UPDATE (`... WHERE status IN (allowed sources)`), so it is atomic
across processes and a terminal task can never change again, whoever tries. A worker's writes also
name the worker (`worker_id`), so a worker that lost its claim (its lease expired and the task was
requeued) cannot overwrite the new run's state.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, case, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from shotline.errors import Conflict
from shotline.schemas import TASK_TYPE, GenerationRequest, TaskStatus
from shotline.store.db import is_postgres, now_ms
from shotline.store.models import Task, Worker
from shotline.store.webhooks import record_event

IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000
# Below this many free places in a key's quota, creates take the per-key lock (see `TaskStore.create`). It
# bounds the overshoot to the creates of one key that race in the same instant far from the limit: none.
UNLOCKED_MARGIN = 64

# Which status may follow which. Terminal statuses have no entry: nothing follows them.
ALLOWED_NEXT: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.PROCESSING, TaskStatus.CANCELED, TaskStatus.FAILED}),
    TaskStatus.PROCESSING: frozenset(
        {TaskStatus.QUEUED, TaskStatus.SUCCEED, TaskStatus.FAILED, TaskStatus.CANCELED}
    ),
}


class QuotaExceeded(Exception):
    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"{active} tasks queued or running; the limit is {limit}")
        self.active, self.limit = active, limit


def allowed_sources(target: TaskStatus) -> list[str]:
    return [src.value for src, targets in ALLOWED_NEXT.items() if target in targets]


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
        )


class TaskStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

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
                                raise Conflict(
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
                    id=str(uuid.uuid4()),
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
                )
                s.add(row)
                try:
                    s.commit()
                except IntegrityError:
                    # Two requests with one Idempotency-Key raced; the loser reads the winner's row.
                    s.rollback()
                    continue
                return TaskRecord.from_row(row), True
        raise Conflict("Idempotency-Key: is being used by concurrent requests; retry", field="Idempotency-Key")

    def _lock_owner(self, s: Session, owner: str, max_active: int | None, force: bool = False) -> bool:
        """Serialize one owner's creates where the quota count and the insert must see the same state.
        SQLite: always (BEGIN IMMEDIATE must open the transaction, and SQLite serializes writes anyway).
        PostgreSQL: only when asked (`force`), near the limit. Returns whether the owner is now locked."""
        if not is_postgres(self.engine):
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

    def transition(
        self,
        task_id: str,
        target: TaskStatus,
        *,
        owned_by: str | None = None,
        only_from: Iterable[TaskStatus] | None = None,
        **values: Any,
    ) -> bool:
        """Move a task to `target` if the rules allow it from its current status; returns whether it moved.

        The only way a status changes. `owned_by` moves only that worker's claim; `only_from` narrows the
        allowed sources further (a claim takes only QUEUED tasks)."""
        sources = allowed_sources(target)
        if only_from is not None:
            sources = [s for s in sources if TaskStatus(s) in set(only_from)]
        if not sources:
            return False
        values["status"] = target.value
        if target.is_terminal:
            values.setdefault("finished_at_ms", now_ms())
            values.setdefault("lease_expires_ms", None)
        stmt = update(Task).where(Task.id == task_id, Task.status.in_(sources))
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
        """Claim one queued task; None if it is no longer queued (someone else has it, or it ended)."""
        now = now_ms()
        moved = self.transition(
            task_id,
            TaskStatus.PROCESSING,
            only_from=[TaskStatus.QUEUED],
            worker_id=worker_id,
            lease_expires_ms=now + int(lease_s * 1000),
            started_at_ms=func.coalesce(Task.started_at_ms, now),
            attempts=Task.attempts + 1,
        )
        return self.get(task_id) if moved else None

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
        with self.session() as s:
            s.execute(
                update(Task)
                .where(Task.worker_id == worker_id, Task.status == TaskStatus.PROCESSING.value)
                .values(lease_expires_ms=now_ms() + int(lease_s * 1000))
            )
            s.commit()

    def release(self, task_id: str, worker_id: str) -> bool:
        """Give a claimed task back to the queue without counting the attempt (graceful shutdown)."""
        return self._requeue(task_id, worker_id, count_attempt=False)

    def _requeue(self, task_id: str, worker_id: str | None, *, count_attempt: bool) -> bool:
        # dispatched_at_ms=None: a brokered queue must send the task again.
        values: dict[str, Any] = {"worker_id": None, "lease_expires_ms": None, "dispatched_at_ms": None}
        if not count_attempt:
            values["attempts"] = Task.attempts - 1
        return self.transition(task_id, TaskStatus.QUEUED, owned_by=worker_id, **values)

    # ----------------------------------------------------------------------------------- cancel, list

    def request_cancel(self, task_id: str, owner: str) -> tuple[TaskRecord | None, bool]:
        """Cancel a task: a queued one ends CANCELED now; a running one is flagged and its worker stops
        at the next step. Returns (the task afterwards or None if it is not the owner's, whether it was
        still live); a task that had already ended is left as it was."""
        task = self.get(task_id, owner=owner)
        if task is None or task.status.is_terminal:
            return task, False
        if not self.transition(task_id, TaskStatus.CANCELED, only_from=[TaskStatus.QUEUED]):
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

    # --------------------------------------------------------------------------------------- dispatch

    def mark_dispatched(self, task_ids: Iterable[str]) -> None:
        ids = list(task_ids)
        if not ids:
            return
        with self.session() as s:
            s.execute(update(Task).where(Task.id.in_(ids)).values(dispatched_at_ms=now_ms()))
            s.commit()

    def needing_dispatch(self, older_than_s: float, *, resend: bool, limit: int = 500) -> list[str]:
        """QUEUED tasks whose message was never sent (and is not just being sent), or, with `resend`, was
        sent more than `older_than_s` ago (it may have been lost with a broker restart)."""
        cutoff = now_ms() - int(older_than_s * 1000)
        never_sent = Task.dispatched_at_ms.is_(None) & (Task.created_at_ms < cutoff)
        cond = (never_sent | (Task.dispatched_at_ms < cutoff)) if resend else never_sent
        with self.session() as s:
            return list(s.scalars(
                select(Task.id).where(Task.status == TaskStatus.QUEUED.value, cond)
                .order_by(Task.queued_at_us).limit(limit)
            ).all())

    # ------------------------------------------------------------------------------------------ recovery

    def recover_orphans(self, is_gone: Callable[[str], bool], max_attempts: int) -> list[tuple[str, TaskStatus]]:
        """Requeue (or fail, after `max_attempts`) every PROCESSING task whose worker is gone: its lease
        expired, or `is_gone(worker_id)` says the process no longer exists."""
        now = now_ms()
        with self.session() as s:
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
                if self.transition(task_id, TaskStatus.CANCELED, owned_by=worker_id):
                    outcome.append((task_id, TaskStatus.CANCELED))
            elif attempts >= max_attempts:
                reason = (
                    f"the worker stopped {attempts} times while generating this video (crash, restart or "
                    "out of memory), so it was given up; try a shorter duration, or contact the operator"
                )
                if self.transition(task_id, TaskStatus.FAILED, owned_by=worker_id, reason=reason):
                    outcome.append((task_id, TaskStatus.FAILED))
            elif self._requeue(task_id, worker_id, count_attempt=True):
                outcome.append((task_id, TaskStatus.QUEUED))
        return outcome

    # ------------------------------------------------------------------------------------------ workers

    def register_worker(self, worker_id: str, hostname: str, pid: int, engine: str) -> None:
        now = now_ms()
        with self.session() as s:
            s.merge(
                Worker(
                    id=worker_id, hostname=hostname, pid=pid, engine=engine, state="loading", detail="",
                    started_at_ms=now, heartbeat_ms=now,
                )
            )
            s.commit()

    def worker_heartbeat(self, worker_id: str, state: str | None = None, detail: str | None = None,
                         **measures: int) -> None:
        """Mark the worker alive; `measures` are Worker columns it reports (GPU memory)."""
        values: dict[str, Any] = {"heartbeat_ms": now_ms(), **measures}
        if state is not None:
            values["state"] = state
        if detail is not None:
            values["detail"] = detail
        with self.session() as s:
            s.execute(update(Worker).where(Worker.id == worker_id).values(**values))
            s.commit()

    def live_workers(self, max_age_s: float) -> list[Worker]:
        with self.session() as s:
            return list(
                s.scalars(select(Worker).where(Worker.heartbeat_ms >= now_ms() - int(max_age_s * 1000))).all()
            )

    def prune_workers(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self.session() as s:
            s.execute(update(Worker).where(Worker.id.in_(ids)).values(state="stopped"))
            s.commit()


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
    Task.owner == bindparam("owner"), Task.status.in_([TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value]))
