"""Worker rows: one per worker process, with its state and heartbeat (what /readyz, /metrics and the
reaper look at)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import sessionmaker

from shotline.db.connect import now_ms
from shotline.db.models import Worker


class WorkerRegistry:
    def __init__(self, db: Engine) -> None:
        self.db = db
        self._session = sessionmaker(db, expire_on_commit=False)

    def register(self, worker_id: str, hostname: str, pid: int, engine: str) -> None:
        now = now_ms()
        with self._session() as s:
            s.merge(
                Worker(
                    id=worker_id, hostname=hostname, pid=pid, engine=engine, state="loading", detail="",
                    started_at_ms=now, heartbeat_ms=now,
                )
            )
            s.commit()

    def heartbeat(self, worker_id: str, state: str | None = None, detail: str | None = None,
                  **measures: int) -> None:
        """Mark the worker alive; `measures` are Worker columns it reports (GPU memory)."""
        values: dict[str, Any] = {"heartbeat_ms": now_ms(), **measures}
        if state is not None:
            values["state"] = state
        if detail is not None:
            values["detail"] = detail
        with self._session() as s:
            s.execute(update(Worker).where(Worker.id == worker_id).values(**values))
            s.commit()

    def live(self, max_age_s: float) -> list[Worker]:
        with self._session() as s:
            return list(
                s.scalars(select(Worker).where(Worker.heartbeat_ms >= now_ms() - int(max_age_s * 1000))).all()
            )
