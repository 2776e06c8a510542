"""The task service: what both APIs (api/kling, api/openai) do with tasks, in their terms neither.

Authenticate a key, create a task from a normalized request (plan it, check it against the engine, count
the key's quota, store it with its plan, wake a worker), read, list, cancel and delete a key's tasks, say
where a finished video is, estimate when a task ends. Each API's serving module turns its wire format into
these calls and the answers back into its own; neither reaches into the store. Plain synchronous code: the
API runs it in a thread pool so the event loop never waits on the database.

Refusals a client sees are raised as the APIError of shotline.errors (a 401, a 404, a 409); what the layers
below raise (the engine's input checks, the store's quota and idempotency) passes through as domain errors,
which api/errors.py maps to HTTP in one place.
"""

from __future__ import annotations

import re
import secrets
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from shotline.config import Settings
from shotline.db import KeyStore, NewTask, TaskRecord, TaskStore, WorkerRegistry
from shotline.db.keys import hash_key, key_id_for
from shotline.engines.base import plan_generation
from shotline.engines.registry import spec_for
from shotline.errors import (
    Conflict,
    InputRejected,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    Unauthorized,
    UnsafeUrl,
)
from shotline.faults import failpoint
from shotline.ids import is_task_id
from shotline.logs import current_request_id
from shotline.plans import dump_plan
from shotline.queue import Queue
from shotline.ratelimit import KeyLimits, RateLimiter
from shotline.request import SEED_MAX, GenerationRequest
from shotline.status import TaskStatus
from shotline.storage import Storage
from shotline.storage.signing import UrlSigner
from shotline.webhooks import guard as webhook_guard

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
LIMITS_CACHE_S = 2.0  # how long a key's own rate and quota are reused before they are read again
DEFAULT_RUN_SECONDS = 10.0  # ETA guess before any task has finished on this engine
# The typical run time behind ETAs is a median over recent runs; polls reuse it this long rather than
# sort the finished tasks again on every request.
TYPICAL_RUN_TTL_S = 5.0


@dataclass
class Service:
    settings: Settings
    tasks: TaskStore
    keys: KeyStore
    workers: WorkerRegistry
    storage: Storage
    queue: Queue
    _typical: dict[str, tuple[float, float]] = field(default_factory=dict, init=False, repr=False)
    _limits: dict[str, tuple[float, KeyLimits]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        # The engine as this deployment runs it (preset, quality, sound): the plan made here is what runs.
        self.spec = spec_for(self.settings.engine, self.settings)
        self.signer = UrlSigner(self.settings.signing_secret, self.settings.video_url_ttl_s, self.settings.public_url)
        self._config_keys = {hash_key(raw): key_id_for(raw) for raw in self.settings.api_keys}
        self.limiter = RateLimiter(self.settings)

    # ------------------------------------------------------------------------------------------ auth

    def authenticate(self, authorization: str | None) -> str:
        """The key id for an `Authorization: Bearer <key>` header, or 401."""
        if not authorization:
            raise Unauthorized("Authorization: missing; send `Authorization: Bearer <API key>`",
                               field="Authorization")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization: must be `Bearer <API key>`", field="Authorization")
        token = token.strip()
        # Keys from configuration are checked in memory (never written to the database), then the
        # database's keys, which `shotline keys` manages and can revoke.
        key_id = self._config_keys.get(hash_key(token)) or self.keys.verify(token)
        if key_id is None:
            raise Unauthorized("Authorization: unknown or revoked API key", field="Authorization")
        self.limiter.check_request(key_id)
        return key_id

    def key_limits(self, key_id: str) -> KeyLimits:
        """The key's own rate and queue quota (keys from configuration have none: the defaults apply).

        Cached for LIMITS_CACHE_S: reading them cost a query on every create (1.3 ms of 7.6 ms on
        PostgreSQL, bench/api.py). Only the limits are cached; whether the key is live (revocation) is
        still checked on every request by `authenticate`. A changed limit applies within LIMITS_CACHE_S."""
        now = time.monotonic()
        cached = self._limits.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        info = self.keys.get(key_id)
        limits = KeyLimits(info.rate, info.max_queued) if info is not None else KeyLimits()
        self._limits[key_id] = (now + LIMITS_CACHE_S, limits)
        return limits

    # ---------------------------------------------------------------------------------------- create

    def create(self, owner: str, request: GenerationRequest, *, request_hash: str,
               idempotency_key: str | None = None, meta: dict[str, str] | None = None) -> str:
        """Queue a task and return its id. `request_hash` identifies the request as the client sent it (for
        Idempotency-Key); `meta` is kept with the task for the API that created it (the OpenAI API's
        `model`, `size`, `seconds`)."""
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise InvalidRequest(
                "Idempotency-Key: must be 1–255 printable ASCII characters without spaces",
                field="Idempotency-Key",
            )
        if request.webhook_url is not None:
            self._check_webhook_url(request.webhook_url)
        seed = request.seed if request.seed is not None else secrets.randbelow(SEED_MAX + 1)
        plan = plan_generation(request, self.spec, seed=seed, steps=self.settings.steps)
        self.spec.check_inputs(plan)
        if request.webhook_url is not None:
            # The key's signing secret exists before its first delivery (a configured key gets its row here).
            self.keys.webhook_secret(owner, env_key=owner in self._config_keys.values())
        new = NewTask(owner=owner, request=request, engine=self.spec.name, seed=seed, request_hash=request_hash,
                      idempotency_key=idempotency_key, meta=meta or {}, request_id=current_request_id(),
                      plan=dump_plan(plan))
        limits = self.key_limits(owner)
        self.limiter.check_create(owner, limits.rate)  # before the insert: a refused create queues nothing
        try:
            max_active = limits.max_queued or self.settings.max_queued_per_key
            task, created = self.tasks.create(new, max_active=max_active)
        except QuotaExceeded as full:
            full.retry_after_s = max(1, round(self._typical_run_seconds(self.spec.name)))
            raise
        if created:
            failpoint("after_commit")  # fault tests: the API dies after the commit, before the send
            self.queue.notify(task.id)
        return task.id

    def _check_webhook_url(self, url: str) -> None:
        try:
            webhook_guard.check(url, allow_private=self.settings.webhook_allow_private)
        except UnsafeUrl as err:
            raise InputRejected(f"extra.webhook.url: {err}", field="extra.webhook.url") from None

    # ------------------------------------------------------------------------------------------ read

    def find(self, owner: str, task_id: str | None) -> TaskRecord | None:
        """The owner's task, or None: the same answer for "no such task", "another key's task" and an id
        that is not one, so nothing leaks about other keys."""
        return self.tasks.get(task_id, owner=owner) if is_task_id(task_id) else None  # type: ignore[arg-type]

    def find_with_ahead(self, owner: str, task_id: str) -> tuple[TaskRecord, int] | None:
        """`find`, and how many tasks run or wait before it, in one query (the hot path: clients poll it)."""
        return self.tasks.get_with_ahead(task_id, owner) if is_task_id(task_id) else None

    def page(self, owner: str, *, status: TaskStatus | None, limit: int, before: tuple[int, str] | None,
             oldest_first: bool = False) -> list[TaskRecord]:
        """The owner's tasks, newest first (or oldest first), after the (created_at_ms, id) `before`."""
        return self.tasks.list_page(owner, status=status, limit=limit, before=before, oldest_first=oldest_first)

    def eta(self, task: TaskRecord, ahead: int | None = None) -> int:
        """Seconds until `task` is expected to finish; `ahead` (tasks running or queued before it) when the
        caller already has it."""
        if task.status.is_terminal:
            return 0
        typical = self._typical_run_seconds(task.engine)
        if task.status is TaskStatus.PROCESSING:
            elapsed = max(0.0, time.time() - (task.started_at_ms or task.created_at_ms) / 1000)
            if task.progress >= 5:
                return max(1, round(elapsed * (100 - task.progress) / task.progress))
            return max(1, round(typical - elapsed))
        if ahead is None:
            ahead = self.tasks.queue_position(task) + self.tasks.processing_count()
        return max(1, round((ahead + 1) * typical))

    def _typical_run_seconds(self, engine: str) -> float:
        cached = self._typical.get(engine)
        if cached is not None and time.monotonic() - cached[1] < TYPICAL_RUN_TTL_S:
            return cached[0]
        recent = self.tasks.recent_run_seconds(engine)
        typical = statistics.median(recent) if recent else DEFAULT_RUN_SECONDS
        self._typical[engine] = (typical, time.monotonic())
        return typical

    # ---------------------------------------------------------------------------------- cancel, delete

    def cancel(self, owner: str, task_id: str) -> TaskRecord:
        """Cancel a task: a queued one ends CANCELED now; a running one stops at its next step. A task that
        had already ended is left as it is (409); another key's task is a 404."""
        if self.find(owner, task_id) is None:
            raise NotFound("task_id: no such task", field="task_id")
        task, was_live = self.tasks.request_cancel(task_id, owner)
        if task is None:
            raise NotFound("task_id: no such task", field="task_id")
        if not was_live:
            raise Conflict(f"task_id: the task already ended ({task.status.value}); it is left as it is",
                           field="task_id", metadata={"status": task.status.value})
        return task

    def cancel_queued(self, task: TaskRecord) -> TaskRecord | None:
        """Cancel a task that has not started (it never will); the task afterwards, None if it is gone."""
        self.tasks.cancel(task.id, only_queued=True)
        return self.tasks.get(task.id, owner=task.owner)

    def delete(self, task: TaskRecord) -> TaskRecord | None:
        """Remove an ended task: its row, then its video and checkpoints. None if it was not there to delete
        (a concurrent delete, or it is still live)."""
        gone = self.tasks.delete_ended(task.id, task.owner)
        if gone is None:
            return None
        # The row goes first: a file without a row is only disk space, a row without its file is a lie.
        if gone.result_key:
            self.storage.delete(gone.result_key)
        self.storage.delete_checkpoints(gone.id)
        return gone

    # ----------------------------------------------------------------------------------------- files

    def locate(self, task: TaskRecord, ttl_s: int | None = None) -> Path | str | None:
        """Where a finished task's mp4 is: a local file, or an object-store URL valid for `ttl_s` (default:
        the signed-link lifetime) to redirect to; None if there is none."""
        if not task.result_key:
            return None
        return self.storage.locate(task.result_key, self.settings.video_url_ttl_s if ttl_s is None else ttl_s)

    def video_url(self, task: TaskRecord, base_url: str) -> str:
        """A signed link to the task's video that works without the key for `video_url_ttl_s`."""
        return self.signer.url(task.id, base_url)

    def signed_file(self, task_id: str, expires: str | None, signature: str | None) -> Path | str:
        """What a signed video link leads to: a local file, or a short-lived object-store URL to redirect
        to. 403 if the link was altered or expired; 404 if the video is gone."""
        if not is_task_id(task_id):
            raise NotFound("task_id: no such video", field="task_id")
        seconds_left = self.signer.check(task_id, expires, signature)
        task = self.tasks.get(task_id)
        where = self.locate(task, seconds_left) if task else None
        if where is None:
            raise NotFound("task_id: this video no longer exists", field="task_id")
        return where

    # ---------------------------------------------------------------------------------------- health

    def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            self.tasks.processing_count()
            checks["store"] = "ok"
        except Exception as err:
            checks["store"] = f"unreachable: {type(err).__name__}"
        checks["storage"] = "ok" if self.storage.writable() else "not reachable or not writable"
        checks["queue"] = self.queue.check()
        try:
            live = self.workers.live(max_age_s=max(10.0, self.settings.lease_s))
            ready = [w for w in live if w.state == "ready" and w.engine == self.settings.engine]
            if ready:
                checks["worker"] = "ok"
            elif live:
                checks["worker"] = "loading: " + "; ".join(f"{w.state} {w.detail}".strip() for w in live)
            else:
                checks["worker"] = "no worker is running"
        except Exception as err:
            checks["worker"] = f"unknown: {type(err).__name__}"
        return checks

