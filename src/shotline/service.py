"""The logic behind the routes: submit a task, report its result. Plain synchronous code; the API runs
it in a thread pool so the event loop never waits on the database."""

from __future__ import annotations

import hashlib
import re
import secrets
import statistics
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from shotline.config import Settings
from shotline.engines.base import plan_generation
from shotline.engines.registry import get_spec
from shotline.errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from shotline.schemas import (
    SEED_MAX,
    CreateTaskRequest,
    DebugInfo,
    ResultExtra,
    TaskInfo,
    TaskResultResponse,
    TaskStatus,
    VideoItem,
)
from shotline.storage import LocalStorage
from shotline.storage import signing
from shotline.store import KeyStore, NewTask, TaskRecord, TaskStore
from shotline.store.keys import hash_key, key_id_for

TASK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
DEFAULT_RUN_SECONDS = 10.0  # ETA guess before any task has finished on this engine


class Queue(Protocol):
    def notify(self, task_id: str) -> None: ...


@dataclass
class Service:
    settings: Settings
    tasks: TaskStore
    keys: KeyStore
    storage: LocalStorage
    queue: Queue

    def __post_init__(self) -> None:
        self.spec = get_spec(self.settings.engine)
        self._secret = self.settings.signing_secret()
        self._config_keys = {hash_key(raw): key_id_for(raw) for raw in self.settings.api_keys}

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
        return key_id

    # ---------------------------------------------------------------------------------------- create

    def create(self, owner: str, payload: CreateTaskRequest, idempotency_key: str | None = None) -> str:
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise InvalidRequest(
                "Idempotency-Key: must be 1–255 printable ASCII characters without spaces",
                field="Idempotency-Key",
            )
        request = payload.normalized()
        if request.webhook_url is not None:
            raise InvalidRequest(
                "extra.webhook: webhooks are not available on this server yet; poll the task result instead",
                field="extra.webhook",
            )
        seed = request.seed if request.seed is not None else secrets.randbelow(SEED_MAX + 1)
        plan = plan_generation(request, self.spec, seed=seed, steps=self.settings.steps)
        self.spec.check_inputs(plan)
        # Idempotency compares what the client asked for (defaults filled in), not the random seed.
        request_hash = hashlib.sha256(payload.model_dump_json().encode()).hexdigest()
        task, created = self.tasks.create(
            NewTask(
                owner=owner,
                request=request.model_copy(update={"seed": seed}),
                engine=self.spec.name,
                seed=seed,
                request_hash=request_hash,
                idempotency_key=idempotency_key,
            )
        )
        if created:
            self.queue.notify(task.id)
        return task.id

    # ---------------------------------------------------------------------------------------- result

    def get_task(self, owner: str, task_id: str | None) -> TaskRecord:
        if not task_id:
            raise InvalidRequest("task_id: is required (?task_id=<id>)", field="task_id")
        # One answer for "no such task" and "another key's task": nothing leaks about other keys.
        if not TASK_ID.match(task_id):
            raise NotFound("task_id: no such task", field="task_id")
        task = self.tasks.get(task_id, owner=owner)
        if task is None:
            raise NotFound("task_id: no such task", field="task_id")
        return task

    def result(self, owner: str, task_id: str | None, base_url: str) -> TaskResultResponse:
        task = self.get_task(owner, task_id)
        videos = []
        if task.status is TaskStatus.SUCCEED and task.result_key:
            videos.append(
                VideoItem(video_url=self.video_url(task.id, base_url),
                          video_url_ttl=str(self.settings.video_url_ttl_s))
            )
        labels = {k: v for k, v in task.result_extra.items() if k != "seed"}
        labels.setdefault("engine", task.engine)
        if task.engine == self.spec.name and self.spec.notice:
            labels.setdefault("notice", self.spec.notice)
        return TaskResultResponse(
            task=TaskInfo(
                task_id=task.id,
                status=task.status,
                reason=task.reason if task.status is TaskStatus.FAILED else "",
                eta=self.eta(task),
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

    def eta(self, task: TaskRecord) -> int:
        if task.status.is_terminal:
            return 0
        recent = self.tasks.recent_run_seconds(task.engine)
        typical = statistics.median(recent) if recent else DEFAULT_RUN_SECONDS
        if task.status is TaskStatus.PROCESSING:
            elapsed = max(0.0, time.time() - (task.started_at_ms or task.created_at_ms) / 1000)
            if task.progress >= 5:
                return max(1, round(elapsed * (100 - task.progress) / task.progress))
            return max(1, round(typical - elapsed))
        ahead = self.tasks.queue_position(task) + self.tasks.processing_count()
        return max(1, round((ahead + 1) * typical))

    # ----------------------------------------------------------------------------------------- files

    def video_url(self, task_id: str, base_url: str) -> str:
        expires, sig = signing.sign(self._secret, task_id, self.settings.video_url_ttl_s)
        base = (self.settings.public_url or base_url).rstrip("/")
        return f"{base}/v3/files/{task_id}/video.mp4?" + urlencode({"expires": expires, "signature": sig})

    def signed_file(self, task_id: str, expires: str | None, signature: str | None):  # noqa: ANN201
        """The local path of a finished video for a valid signed URL; 403 if tampered or expired."""
        if not TASK_ID.match(task_id):
            raise NotFound("task_id: no such video", field="task_id")
        if not expires or not signature or not expires.isdigit() or len(expires) > 12:
            raise Forbidden("signature: this video link is not signed; ask the task result for a fresh video_url",
                            field="signature")
        why = signing.verify(self._secret, task_id, int(expires), signature)
        if why == "expired":
            raise Forbidden("expires: this video link has expired; ask the task result for a fresh video_url",
                            field="expires")
        if why is not None:
            raise Forbidden("signature: this video link's signature is not valid", field="signature")
        task = self.tasks.get(task_id)
        path = self.storage.path(task.result_key) if task and task.result_key else None
        if path is None:
            raise NotFound("task_id: this video no longer exists", field="task_id")
        return path

    # ---------------------------------------------------------------------------------------- health

    def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            self.tasks.processing_count()
            checks["store"] = "ok"
        except Exception as err:  # noqa: BLE001 - any failure means not ready, and says why
            checks["store"] = f"unreachable: {type(err).__name__}"
        checks["storage"] = "ok" if self.storage.writable() else "not writable"
        try:
            live = self.tasks.live_workers(max_age_s=max(10.0, self.settings.lease_s))
            ready = [w for w in live if w.state == "ready" and w.engine == self.spec.name]
            if ready:
                checks["worker"] = "ok"
            elif live:
                checks["worker"] = "loading: " + "; ".join(f"{w.state} {w.detail}".strip() for w in live)
            else:
                checks["worker"] = "no worker is running"
        except Exception as err:  # noqa: BLE001
            checks["worker"] = f"unknown: {type(err).__name__}"
        return checks


def _str_or_empty(value: int | None) -> str:
    return "" if value is None else str(value)
