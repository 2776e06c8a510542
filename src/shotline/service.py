"""The logic behind the routes: submit a task, report its result. Plain synchronous code; the API runs
it in a thread pool so the event loop never waits on the database."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from shotline.config import Settings
from shotline.engines.base import plan_generation
from shotline.engines.registry import spec_for
from shotline.errors import Conflict, InvalidRequest, NotFound, RateLimited, Unauthorized
from shotline.faults import failpoint
from shotline.logs import current_request_id
from shotline.queue import Queue
from shotline.ratelimit import KeyLimits, RateLimiter
from shotline.schemas import (
    SEED_MAX,
    CreateTaskRequest,
    DebugInfo,
    GenerationRequest,
    ResultExtra,
    TaskInfo,
    TaskListResponse,
    TaskResultResponse,
    TaskStatus,
    VideoItem,
)
from shotline.storage import Storage
from shotline.storage.signing import UrlSigner
from shotline.store import KeyStore, NewTask, TaskRecord, TaskStore
from shotline.store.keys import hash_key, key_id_for
from shotline.store.tasks import QuotaExceeded
from shotline.webhooks import guard as webhook_guard

TASK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
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
    storage: Storage
    queue: Queue
    _typical: dict[str, tuple[float, float]] = field(default_factory=dict, init=False, repr=False)
    _limits: dict[str, tuple[float, KeyLimits]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        # The engine as this deployment runs it (preset, quality, sound): the worker plans with the same.
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

    def create(self, owner: str, payload: CreateTaskRequest, idempotency_key: str | None = None,
               meta: dict[str, str] | None = None) -> str:
        """Queue a task and return its id. `meta` is kept with the task for the API that created it (the
        OpenAI API's `model`, `size`, `seconds`)."""
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise InvalidRequest(
                "Idempotency-Key: must be 1–255 printable ASCII characters without spaces",
                field="Idempotency-Key",
            )
        request = payload.normalized()
        if request.webhook_url is not None:
            self._check_webhook_url(request.webhook_url)
        seed = request.seed if request.seed is not None else secrets.randbelow(SEED_MAX + 1)
        plan = plan_generation(request, self.spec, seed=seed, steps=self.settings.steps)
        self.spec.check_inputs(plan)
        # Idempotency compares what the client asked for (defaults filled in), not the random seed.
        request_hash = hashlib.sha256(payload.model_dump_json().encode()).hexdigest()
        if request.webhook_url is not None:
            # The key's signing secret exists before its first delivery (a configured key gets its row here).
            self.keys.webhook_secret(owner, env_key=owner in self._config_keys.values())
        new = NewTask(owner=owner, request=request.model_copy(update={"seed": seed}), engine=self.spec.name,
                      seed=seed, request_hash=request_hash, idempotency_key=idempotency_key, meta=meta or {},
                      request_id=current_request_id())
        limits = self.key_limits(owner)
        self.limiter.check_create(owner, limits.rate)  # before the insert: a refused create queues nothing
        try:
            max_active = limits.max_queued or self.settings.max_queued_per_key
            task, created = self.tasks.create(new, max_active=max_active)
        except QuotaExceeded as full:
            wait = max(1, round(self._typical_run_seconds(self.spec.name)))
            raise RateLimited(
                f"this key has {full.active} tasks queued or running (the limit is {full.limit}); "
                f"retry after {wait} s, when one has finished", headers={"Retry-After": str(wait)},
                metadata={"active": full.active, "limit": full.limit},
            ) from None
        if created:
            failpoint("after_commit")  # fault tests: the API dies after the commit, before the send
            self.queue.notify(task.id)
        return task.id

    def _check_webhook_url(self, url: str) -> None:
        try:
            webhook_guard.check(url, allow_private=self.settings.webhook_allow_private)
        except webhook_guard.UnsafeUrl as err:
            raise InvalidRequest(f"extra.webhook.url: {err}", field="extra.webhook.url") from None

    # ---------------------------------------------------------------------------------------- result

    def get_task(self, owner: str, task_id: str | None) -> TaskRecord:
        task = self.tasks.get(_checked_task_id(task_id), owner=owner)
        if task is None:
            raise NotFound("task_id: no such task", field="task_id")
        return task

    def result(self, owner: str, task_id: str | None, base_url: str) -> TaskResultResponse:
        # The hot path (clients poll it): the task and its place in the queue in one query.
        found = self.tasks.get_with_ahead(_checked_task_id(task_id), owner)
        if found is None:
            raise NotFound("task_id: no such task", field="task_id")
        return self._result_of(found[0], base_url, ahead=found[1])

    def result_of(self, task: TaskRecord, base_url: str) -> TaskResultResponse:
        """The task-result body for a task already read (webhooks render their payload with it)."""
        return self._result_of(task, base_url)

    def _result_of(self, task: TaskRecord, base_url: str, ahead: int | None = None,
                   with_request: bool = False) -> TaskResultResponse:
        videos = []
        if task.status is TaskStatus.SUCCEED and task.result_key:
            videos.append(
                VideoItem(video_url=self.signer.url(task.id, base_url),
                          video_url_ttl=str(self.settings.video_url_ttl_s))
            )
        labels = {k: v for k, v in task.result_extra.items() if k != "seed"}
        labels.setdefault("engine", task.engine)
        if task.engine == self.spec.name and self.spec.notice:
            labels.setdefault("notice", self.spec.notice)
        if ahead is not None and task.status is TaskStatus.QUEUED:
            labels["tasks_ahead"] = ahead  # running or queued before it: what a progress display shows
        if with_request:
            labels["request"] = request_fields(task.request)
        return TaskResultResponse(
            task=TaskInfo(
                task_id=task.id,
                status=task.status,
                reason=task.reason if task.status is TaskStatus.FAILED else "",
                eta=self.eta(task, ahead),
                progress_percent=100 if task.status is TaskStatus.SUCCEED else task.progress,
            ),
            videos=videos,
            extra=ResultExtra(
                seed=str(task.seed),
                debug_info=DebugInfo(
                    submit_time_ms=str(task.created_at_ms),
                    execute_time_ms=_str_or_empty(task.started_at_ms),
                    complete_time_ms=_str_or_empty(task.finished_at_ms),
                ),
                **labels,
            ),
        )

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

    # ------------------------------------------------------------------------------------ cancel, list

    def cancel(self, owner: str, task_id: str, base_url: str) -> TaskResultResponse:
        self.get_task(owner, task_id)
        task, was_live = self.tasks.request_cancel(task_id, owner)
        if task is None:
            raise NotFound("task_id: no such task", field="task_id")
        if not was_live:
            raise Conflict(f"task_id: the task already ended ({task.status.value}); it is left as it is",
                           field="task_id", metadata={"status": task.status.value})
        return self._result_of(task, base_url)

    def list(self, owner: str, base_url: str, *, status: str | None, limit: int, cursor: str | None) -> TaskListResponse:
        wanted = None
        if status:
            try:
                wanted = TaskStatus(status)
            except ValueError:
                options = ", ".join(s.value for s in TaskStatus)
                raise InvalidRequest(f"status: must be one of {options}, got {status!r}", field="status") from None
        before = decode_cursor(cursor) if cursor else None
        rows = self.tasks.list_page(owner, status=wanted, limit=limit + 1, before=before)
        page, more = rows[:limit], len(rows) > limit
        return TaskListResponse(
            tasks=[self._result_of(t, base_url, with_request=True) for t in page],
            next_cursor=encode_cursor(page[-1]) if more and page else None,
        )

    # ----------------------------------------------------------------------------------------- files

    def signed_file(self, task_id: str, expires: str | None, signature: str | None) -> Path | str:
        """What a signed video link leads to: a local file, or a short-lived object-store URL to redirect
        to. 403 if the link was altered or expired; 404 if the video is gone."""
        if not TASK_ID.match(task_id):
            raise NotFound("task_id: no such video", field="task_id")
        seconds_left = self.signer.check(task_id, expires, signature)
        task = self.tasks.get(task_id)
        where = self.storage.locate(task.result_key, seconds_left) if task and task.result_key else None
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
            live = self.tasks.live_workers(max_age_s=max(10.0, self.settings.lease_s))
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


def request_fields(request: GenerationRequest) -> dict[str, object]:
    """A task's request in the create body's own fields (what a list shows, and what "use these settings
    again" resubmits); the owner's own data, so only in the owner's list."""
    fields: dict[str, object] = {"duration": request.duration, "aspect_ratio": request.aspect_ratio,
                                 "sound": request.sound, "cfg_scale": request.cfg_scale,
                                 "negative_prompt": request.negative_prompt}
    if request.multi_shot:
        fields["multi_prompt"] = [s.model_dump(exclude_none=True) for s in request.shots]
    else:
        fields["prompt"] = request.shots[0].prompt
    return fields


def _checked_task_id(task_id: str | None) -> str:
    if not task_id:
        raise InvalidRequest("task_id: is required (?task_id=<id>)", field="task_id")
    # One answer for "no such task" and "another key's task": nothing leaks about other keys.
    if not TASK_ID.match(task_id):
        raise NotFound("task_id: no such task", field="task_id")
    return task_id


def _str_or_empty(value: int | None) -> str:
    return "" if value is None else str(value)


def encode_cursor(task: TaskRecord) -> str:
    return base64.urlsafe_b64encode(f"{task.created_at_ms}:{task.id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        created, _, task_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        if not TASK_ID.match(task_id):
            raise ValueError(task_id)
        return int(created), task_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("cursor: not a cursor this server handed out; use next_cursor from the previous "
                             "page", field="cursor") from None
