"""Tables. The schema itself is made by the Alembic migrations in `migrations/`; keep the two in step
(a test compares them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # public handle, "key_<hex>", safe to log
    name: Mapped[str] = mapped_column(String(200), default="")
    # sha256 of the raw key: keys are high-entropy random tokens, so a fast hash is enough (no salt or
    # argon2 needed) and lets every request look its key up by an index.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="db")  # "db" (shotline keys) or "env"
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40))  # ApiKey.id
    task_type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(32))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    # The normalized GenerationRequest as JSON, and the engine that accepted it.
    request_json: Mapped[str] = mapped_column(Text)
    engine: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    # Microseconds, for a stable queue order; the *_ms columns are what the API reports.
    queued_at_us: Mapped[int] = mapped_column(BigInteger)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    started_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    # JSON object of labels the result carries in `extra` (the tiny engine's notice, for one).
    result_extra_json: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (
        Index("ix_tasks_status_queued", "status", "queued_at_us"),
        Index("ix_tasks_owner_created", "owner", "created_at_ms"),
        Index("ix_tasks_owner_idempotency", "owner", "idempotency_key", unique=True),
    )


class Worker(Base):
    """One row per worker process: what /readyz and the reaper look at."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    engine: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # loading | ready | stopped | failed
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at_ms: Mapped[int] = mapped_column(BigInteger)
    heartbeat_ms: Mapped[int] = mapped_column(BigInteger)
