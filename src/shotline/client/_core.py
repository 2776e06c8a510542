"""What the sync and async clients share: the endpoints, how a call is built and its answer read, when to
retry and how long to wait, how to poll. Nothing here does I/O, so both clients follow the same rules and
differ only in `time.sleep` versus `await asyncio.sleep`."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any, TypedDict

import httpx
from pydantic import ValidationError

from shotline.errors import Conflict, ConnectionFailed, ShotlineError, Unauthorized, error_from_body
from shotline.protocol.kling import (
    CreateTaskRequest,
    CreateTaskResponse,
    Extra,
    Shot,
    TaskListResponse,
    TaskResultResponse,
)
from shotline.request import AspectRatio
from shotline.status import TaskStatus
from shotline.validation import invalid_request

log = logging.getLogger("shotline.client")

CREATE_PATH = "/v3/async/kling-v3.0-pro-t2v"
RESULT_PATH = "/v3/async/task-result"
TASKS_PATH = "/v3/async/tasks"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Connecting should be quick on any network; a response can take longer behind a busy database.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
# 429 and 503 say "come back later"; 502/504 are a proxy whose server is restarting or slow. A 500 is a bug:
# asking again would only repeat it.
RETRY_STATUSES = frozenset({429, 502, 503, 504})

try:
    USER_AGENT = f"shotline-python/{version('shotline')}"
except PackageNotFoundError:  # running from a source tree that was never installed
    USER_AGENT = "shotline-python"


class CreateFields(TypedDict, total=False):
    """Keyword arguments of `videos.create`: the API's fields (schemas.CreateTaskRequest), plus `seed` as a
    shortcut for `extra={"seed": ...}`."""

    prompt: str
    multi_prompt: Sequence[Shot | Mapping[str, Any]]
    duration: int
    cfg_scale: float
    aspect_ratio: AspectRatio
    sound: bool
    negative_prompt: str
    extra: Extra | Mapping[str, Any]
    seed: int


class TaskFailed(ShotlineError):
    """`create_and_poll` ended with a FAILED or CANCELED task; `.result` holds the final answer."""

    # Not an APIError: every HTTP call succeeded, the generation did not (no status_code).
    reason = "TASK_FAILED"

    def __init__(self, result: TaskResultResponse) -> None:
        self.result = result
        self.task_id = result.task.task_id
        self.status = result.task.status
        word = self.status.value.removeprefix("TASK_STATUS_").lower()
        why = result.task.reason or ("canceled" if self.status is TaskStatus.CANCELED else "no reason given")
        super().__init__(f"task {self.task_id} {word}: {why}" if why != word else f"task {self.task_id} {word}")


class VideoNotReady(Conflict):
    """`download` of a task that has no video (still running, failed or canceled)."""


# ------------------------------------------------------------------------------------------------ calls


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # relative to the base URL, or an absolute (signed) URL
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Signed video URLs work without the key and may lead to another host (S3, a CDN), which must not see it.
    authenticated: bool = True


def create_call(request: CreateTaskRequest | Mapping[str, Any] | None, fields: Mapping[str, Any],
                idempotency_key: str | None) -> Call:
    """Validated locally with the server's own model, so a typo fails before any request, in the server's
    words. The Idempotency-Key is fixed here, once per create, so every retry of it names the same task."""
    body = dict(request.model_dump(exclude_unset=True) if isinstance(request, CreateTaskRequest) else request or {})
    body.update(fields)
    seed = body.pop("seed", None)
    if seed is not None:
        extra = body.get("extra") or {}
        extra = extra.model_dump(exclude_unset=True) if isinstance(extra, Extra) else dict(extra)
        body["extra"] = {**extra, "seed": seed}
    try:
        payload = CreateTaskRequest.model_validate(body).model_dump(exclude_unset=True, mode="json")
    except ValidationError as err:
        raise invalid_request(err.errors(), CreateTaskRequest) from None
    return Call("POST", CREATE_PATH, json=payload,
                headers={"Idempotency-Key": idempotency_key or f"shotline-{uuid.uuid4()}"})


def result_call(task_id: str) -> Call:
    return Call("GET", RESULT_PATH, params={"task_id": task_id})


def cancel_call(task_id: str) -> Call:
    return Call("POST", f"{TASKS_PATH}/{task_id}/cancel")


def list_call(status: TaskStatus | str | None, limit: int, cursor: str | None) -> Call:
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status.value if isinstance(status, TaskStatus) else status
    if cursor:
        params["cursor"] = cursor
    return Call("GET", TASKS_PATH, params=params)


def download_call(result: TaskResultResponse) -> Call:
    if not result.videos:
        task = result.task
        raise VideoNotReady(f"task {task.task_id} has no video ({task.status.value}, {task.progress_percent}%)",
                            field="task_id", metadata={"status": task.status.value})
    return Call("GET", result.videos[0].video_url, authenticated=False)


def parse_task_id(response: httpx.Response) -> str:
    return CreateTaskResponse.model_validate(response.json()).task_id


def parse_result(response: httpx.Response) -> TaskResultResponse:
    return TaskResultResponse.model_validate(response.json())


def parse_list(response: httpx.Response) -> TaskListResponse:
    return TaskListResponse.model_validate(response.json())


def error_of(response: httpx.Response) -> ShotlineError:
    """The server's error body, back as the class it was raised as (shotline.errors), with its message."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return error_from_body(response.status_code, body, headers=dict(response.headers))


# ------------------------------------------------------------------------------------------- the client


class ClientConfig:
    """Base URL, key, timeouts and retry policy; turns a Call into an httpx request for either client."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float | httpx.Timeout | None,
                 max_retries: int) -> None:
        self.base_url = (base_url or os.environ.get("SHOTLINE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("SHOTLINE_API_KEY", "")
        if not self.api_key:  # like openai-python: at construction, not as a bad header on the first call
            raise Unauthorized("api_key: missing; pass api_key=... or set SHOTLINE_API_KEY", field="api_key")
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        self.retry = RetryPolicy(max_retries=max_retries)

    def attempts(self, call: Call) -> Attempts:
        """A fresh retry state for one call; its errors name the host it could not reach."""
        url = httpx.URL(call.path)
        where = f"{url.scheme}://{url.netloc.decode()}" if url.is_absolute_url else self.base_url
        return Attempts(self.retry, call, where)

    def build(self, http: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        absolute = call.path.startswith(("http://", "https://"))
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **call.headers}
        if call.authenticated:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return http.build_request(call.method, call.path if absolute else self.base_url + call.path,
                                  params=call.params, json=call.json, headers=headers, timeout=self.timeout)


@dataclass(frozen=True)
class RetryPolicy:
    """Every call the SDK makes is safe to repeat (GETs, cancel, and create with its Idempotency-Key), so
    all of them retry connection errors and RETRY_STATUSES, with jittered exponential backoff, or the
    server's Retry-After when it gives one."""

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this (an hourly quota, say) is not waited out: the error goes to the caller.
    max_retry_after: float = 60.0

    def start(self, call: Call, where: str = "") -> Attempts:
        return Attempts(self, call, where)


class Attempts:
    """One call's tries: after each failure, how long to wait before the next, or the error to raise."""

    def __init__(self, policy: RetryPolicy, call: Call, where: str) -> None:
        self.policy, self.call, self.where, self.count = policy, call, where, 1
        # For the log: the endpoint, but never a signed URL's query (it is a credential while it lasts).
        self.target = where if call.path.startswith(("http://", "https://")) else where + call.path

    def wait_or_raise(self, *, response: httpx.Response | None = None,
                      error: httpx.TransportError | None = None) -> float:
        if error is not None:
            tries = f" (tried {self.count} times)" if self.count > 1 else ""
            failure: ShotlineError = ConnectionFailed(
                f"cannot reach {self.where}: {str(error) or type(error).__name__}{tries}")
            failure.__cause__ = error
            retryable, asked = True, None
        else:
            assert response is not None
            failure = error_of(response)
            retryable, asked = response.status_code in RETRY_STATUSES, failure.retry_after
        failure.attempts = self.count  # type: ignore[attr-defined]  # lets cancel tell a retried 409 apart
        if not retryable or self.count > self.policy.max_retries:
            raise failure
        if asked is not None and asked > self.policy.max_retry_after:
            raise failure
        backoff = min(self.policy.max_delay, self.policy.initial_delay * 2 ** (self.count - 1))
        wait = asked if asked is not None else backoff * (1 - 0.25 * random.random())
        log.info("%s %s: %s; retrying in %.1f s (retry %d of %d)", self.call.method, self.target,
                 failure.message, wait, self.count, self.policy.max_retries)
        self.count += 1
        return wait


# -------------------------------------------------------------------------------------------- polling


class PollSchedule:
    """Polite polling: quick at first, then backing off to `max_interval`; never sleeping much past the
    server's own estimate of when the task ends."""

    def __init__(self, interval: float, max_interval: float) -> None:
        self.interval, self.max_interval, self._next = interval, max_interval, interval

    def delay(self, result: TaskResultResponse) -> float:
        wait = self._next
        self._next = min(self.max_interval, self._next * 1.5)
        if result.task.eta > 0:
            wait = min(wait, max(self.interval, float(result.task.eta)))
        return wait


def report(on_progress: Callable[[TaskResultResponse], object] | None, result: TaskResultResponse) -> None:
    """Hand a poll's result to the caller's `on_progress` (the sync client)."""
    if on_progress is not None:
        on_progress(result)


async def areport(on_progress: Callable[[TaskResultResponse], object] | None, result: TaskResultResponse) -> None:
    """`report` for the async client, whose `on_progress` may also be a coroutine function."""
    if on_progress is not None:
        returned = on_progress(result)
        if inspect.isawaitable(returned):
            await returned


def succeeded_or_raise(result: TaskResultResponse) -> TaskResultResponse:
    if result.task.status is not TaskStatus.SUCCEED:
        raise TaskFailed(result)
    return result


# ------------------------------------------------------------------------------------------ downloads


@contextlib.contextmanager
def part_file(path: Path) -> Iterator[IO[bytes]]:
    """Write beside `path`, then move into place: the file is whole or absent, never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with tmp.open("wb") as f:
            yield f
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- pages


@dataclass
class PageData:
    """One page of `GET /v3/async/tasks` and what is needed to ask for the next."""

    tasks: list[TaskResultResponse]
    next_cursor: str | None
    status: TaskStatus | str | None
    limit: int

    def has_next_page(self) -> bool:
        return self.next_cursor is not None

    def next_call(self) -> Call:
        return list_call(self.status, self.limit, self.next_cursor)
