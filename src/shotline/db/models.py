"""Tables. The schema itself is made by the Alembic migrations in `migrations/`; keep the two in step
(a test compares them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
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
    # Per-key limits (None: the server's defaults) and the secret that signs this key's webhooks
    # (Standard Webhooks `whsec_…`; the server must be able to sign with it, so it is kept, not hashed).
    rate_per_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_queued: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The key's own rate of creates in the `limits` notation ("60/minute", "5/second", "100/hour"); it wins
    # over `rate_per_min` (N/minute), which keys made before it carry. None in both: the server's default.
    rate_limit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(40))  # ApiKey.id
    task_type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(32))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    # The normalized GenerationRequest as JSON (as the client asked: `seed` is None when the server picked
    # it), the engine that accepted it, and the seed the task runs with.
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
    # When the broker message for this task was last sent (brokered queues only); NULL: not yet sent.
    dispatched_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The id of the HTTP request that created the task, so worker logs line up with API logs.
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the API that created the task needs to describe it its own way (e.g. the OpenAI-style
    # `model`, `size`, `seconds`), as a JSON object.
    meta_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    # The generation plan made at submit (shotline/plans.py, versioned JSON): the worker runs it as it is.
    # NULL for tasks queued before plans were stored; the worker plans those itself.
    plan_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    # JSON object of labels the result carries in `extra` (the tiny engine's notice, for one).
    result_extra_json: Mapped[str] = mapped_column(Text, default="{}")
    # Seconds the worker spent in the model and in encoding (shots generated in the final run only; shots
    # resumed from checkpoints cost nothing), written with SUCCEED. /metrics builds its histograms from them.
    generate_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    encode_s: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index("ix_tasks_status_queued", "status", "queued_at_us"),
        Index("ix_tasks_owner_created", "owner", "created_at_ms"),
        Index("ix_tasks_owner_idempotency", "owner", "idempotency_key", unique=True),
        Index("ix_tasks_owner_status", "owner", "status"),
    )


class WebhookDelivery(Base):
    """The webhook outbox: one row per (task, status change), written in the same transaction as the
    change, delivered and retried by a background sender."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the `webhook-id` header: stable across retries
    task_id: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(40))  # task.processing | task.succeeded | task.failed | task.canceled
    payload_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    delivered_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_webhook_due", "state", "next_attempt_ms"),
        Index("ix_webhook_task", "task_id"),
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
    # GPU memory the worker process holds (torch's reserved bytes) and the card's total, sent with each
    # heartbeat; NULL on a CPU worker.
    gpu_memory_used_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gpu_memory_total_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
