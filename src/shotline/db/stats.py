"""Aggregates for /metrics, read from the database at scrape time.

The database is the one place that sees every API process and every worker on every host, so figures
read from it are right however the deployment is spread out; an API process's own counters would see
only the requests and tasks that passed through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, case, func, select

from shotline.db.connect import now_ms
from shotline.db.models import Task, Worker
from shotline.status import TaskStatus

# Workers whose last heartbeat is older than this are left out of the metrics (rows of long-gone workers
# would otherwise be reported forever).
WORKER_HORIZON_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Timing:
    """A cumulative histogram of one timing column over every succeeded task of one engine."""

    engine: str
    cumulative: list[int]  # tasks at or below each bucket bound, in the order of the bounds
    count: int
    total: float


@dataclass(frozen=True)
class WorkerBeat:
    id: str
    engine: str
    state: str
    heartbeat_age_s: float
    gpu_memory_used_bytes: int | None
    gpu_memory_total_bytes: int | None


class StatsStore:
    def __init__(self, db: Engine) -> None:
        self.db = db

    def tasks_by_status(self) -> dict[str, int]:
        counts = {status.value: 0 for status in TaskStatus}
        with self.db.connect() as conn:
            for status, n in conn.execute(select(Task.status, func.count()).group_by(Task.status)):
                counts[status] = int(n)
        return counts

    def timing(self, column: str, bounds: Sequence[float]) -> list[Timing]:
        """One pass over the succeeded tasks that carry the timing: a count per bucket, per engine. Counts
        only grow (rows are not deleted), as a Prometheus histogram's must."""
        col = getattr(Task, column)
        buckets = [func.sum(case((col <= bound, 1), else_=0)) for bound in bounds]
        query = (select(Task.engine, func.count(col), func.coalesce(func.sum(col), 0.0), *buckets)
                 .where(Task.status == TaskStatus.SUCCEED.value, col.is_not(None))
                 .group_by(Task.engine))
        with self.db.connect() as conn:
            return [Timing(engine, [int(b or 0) for b in rest], int(count), float(total))
                    for engine, count, total, *rest in conn.execute(query)]

    def workers(self) -> list[WorkerBeat]:
        now = now_ms()
        query = select(Worker).where(Worker.state != "stopped",
                                     Worker.heartbeat_ms >= now - WORKER_HORIZON_MS)
        with self.db.connect() as conn:
            return [WorkerBeat(w.id, w.engine, w.state, max(0.0, (now - w.heartbeat_ms) / 1000),
                               w.gpu_memory_used_bytes, w.gpu_memory_total_bytes)
                    for w in conn.execute(query)]
