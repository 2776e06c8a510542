"""Retention: finished videos and task rows expire (`SHOTLINE_RESULT_TTL_S`, `SHOTLINE_TASK_TTL_S`).

What a client sees (contract §2 keeps terminal statuses unchanged, so expiry never rewrites a status):
- after `result_ttl_s`, a SUCCEED task answers SUCCEED with no video and `extra.result_expired` saying
  why; a video link handed out earlier answers 404 ("no longer exists"), never a URL to a missing file;
- after `task_ttl_s`, the task is gone: 404, the same answer as an id that never existed.
Queued and running tasks never expire.

Order matters for "never a broken URL": the row stops naming the file (one conditional UPDATE) before
the file is deleted, so no new link is minted for a file about to vanish. A crash between the two leaves
a file no row names; the orphan sweep removes it on a later run. Every step is idempotent, so several
workers may collect at once.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

from sqlalchemy import delete, select, update

from shotline.config import Settings
from shotline.db import TaskStore
from shotline.db.connect import now_ms as current_ms
from shotline.db.models import Task, WebhookDelivery
from shotline.status import TERMINAL as TERMINAL_STATUSES
from shotline.status import TaskStatus
from shotline.storage import Storage

log = logging.getLogger("shotline.retention")
BATCH = 500
TERMINAL = sorted(s.value for s in TERMINAL_STATUSES)


@dataclass
class GcReport:
    results_deleted: int = 0
    tasks_deleted: int = 0
    orphans_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _span(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    return f"{seconds} s"


def collect_garbage(settings: Settings, tasks: TaskStore, storage: Storage, now_ms: int | None = None) -> GcReport:
    """Expire what is past its time; returns what was removed. `now_ms` lets tests and operators look
    ahead without waiting."""
    now = current_ms() if now_ms is None else now_ms
    report = GcReport()
    report.results_deleted = _expire_results(settings, tasks, storage, now)
    report.tasks_deleted = _expire_tasks(settings, tasks, storage, now)
    report.orphans_deleted = _sweep_orphans(settings, tasks, storage, now)
    return report


@dataclass
class GcPreview:
    """What `collect_garbage` would remove at `now_ms`, removing nothing (`shotline gc --dry-run`)."""

    results: list[str]  # task ids whose video would be deleted
    tasks: list[str]  # task ids whose row (and files) would be deleted
    orphans: list[str]  # stored files no task names

    def as_dict(self) -> dict[str, list[str]]:
        return asdict(self)


def preview_garbage(settings: Settings, tasks: TaskStore, storage: Storage, now_ms: int | None = None) -> GcPreview:
    """The same selections as `collect_garbage`, read-only."""
    now = current_ms() if now_ms is None else now_ms
    result_cutoff, task_cutoff = now - settings.result_ttl_s * 1000, now - settings.task_ttl_s * 1000
    with tasks.session() as s:
        results = s.scalars(select(Task.id).where(
            Task.status == TaskStatus.SUCCEED.value, Task.result_key.is_not(None), Task.finished_at_ms < result_cutoff)
            .order_by(Task.finished_at_ms)).all()
        rows = s.scalars(select(Task.id).where(Task.status.in_(TERMINAL), Task.finished_at_ms < task_cutoff)
                         .order_by(Task.finished_at_ms)).all()
    old = [key for key, mtime in storage.stored_results() if mtime < now / 1000 - settings.result_ttl_s]
    with tasks.session() as s:
        named = set(s.scalars(select(Task.result_key).where(Task.result_key.in_(old))).all()) if old else set()
    return GcPreview(results=list(results), tasks=list(rows), orphans=[k for k in old if k not in named])


def _expire_results(settings: Settings, tasks: TaskStore, storage: Storage, now: int) -> int:
    cutoff = now - settings.result_ttl_s * 1000
    note = (f"the video was deleted {_span(settings.result_ttl_s)} after the task ended (this server's "
            "retention); submit the request again to make it again")
    done = 0
    while True:
        with tasks.session() as s:
            rows = s.execute(
                select(Task.id, Task.result_key, Task.result_extra_json)
                .where(Task.status == TaskStatus.SUCCEED.value, Task.result_key.is_not(None),
                       Task.finished_at_ms < cutoff)
                .limit(BATCH)
            ).all()
        for task_id, key, extra_json in rows:
            labels = {**json.loads(extra_json or "{}"), "result_expired": note}
            with tasks.session() as s:
                moved = s.execute(
                    update(Task).where(Task.id == task_id, Task.result_key == key)
                    .values(result_key=None, result_extra_json=json.dumps(labels))
                ).rowcount
                s.commit()
            if moved == 1:
                storage.delete(key)
                done += 1
        if len(rows) < BATCH:
            return done


def _expire_tasks(settings: Settings, tasks: TaskStore, storage: Storage, now: int) -> int:
    cutoff = now - settings.task_ttl_s * 1000
    done = 0
    while True:
        with tasks.session() as s:
            rows = s.execute(
                select(Task.id, Task.result_key)
                .where(Task.status.in_(TERMINAL), Task.finished_at_ms < cutoff)
                .limit(BATCH)
            ).all()
            ids = [r.id for r in rows]
            if ids:
                s.execute(delete(WebhookDelivery).where(WebhookDelivery.task_id.in_(ids)))
                s.execute(delete(Task).where(Task.id.in_(ids), Task.status.in_(TERMINAL)))
                s.commit()
        for task_id, key in rows:
            if key:
                storage.delete(key)
            storage.delete_checkpoints(task_id)
        done += len(rows)
        if len(rows) < BATCH:
            return done


def _sweep_orphans(settings: Settings, tasks: TaskStore, storage: Storage, now: int) -> int:
    """Stored videos no task names, older than the result TTL (left by a crash mid-expiry). Younger ones
    may belong to a worker between storing its file and recording it, so they are left alone."""
    cutoff_s = now / 1000 - settings.result_ttl_s
    old = [key for key, mtime in storage.stored_results() if mtime < cutoff_s]
    done = 0
    for start in range(0, len(old), BATCH):
        chunk = old[start:start + BATCH]
        with tasks.session() as s:
            named = set(s.scalars(select(Task.result_key).where(Task.result_key.in_(chunk))).all())
        for key in chunk:
            if key not in named:
                storage.delete(key)
                done += 1
    return done


class PeriodicGc:
    """Runs `collect_garbage` at most every `gc_interval_s` from a worker's loop (first run at once)."""

    def __init__(self, settings: Settings, tasks: TaskStore, storage: Storage) -> None:
        self.settings, self.tasks, self.storage = settings, tasks, storage
        self._last: float | None = None

    def maybe_run(self) -> GcReport | None:
        interval = self.settings.gc_interval_s
        if not interval or (self._last is not None and time.monotonic() - self._last < interval):
            return None
        self._last = time.monotonic()
        try:
            report = collect_garbage(self.settings, self.tasks, self.storage)
        except Exception:
            log.warning("retention round failed; retrying in %.0f s", interval, exc_info=True)
            return None
        if any(report.as_dict().values()):
            log.info("retention: %s", json.dumps(report.as_dict()))
        return report
