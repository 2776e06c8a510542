"""The synchronous client. One exception class per error reason (shotline.errors), raised with the
server's own message; polling backs off and honours Retry-After."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from shotline.errors import ShotlineError, error_from_body
from shotline.schemas import CreateTaskRequest, TaskResultResponse
from shotline.validation import invalid_request

CREATE_PATH = "/v3/async/kling-v3.0-pro-t2v"
RESULT_PATH = "/v3/async/task-result"


class TaskFailed(ShotlineError):
    """`create_and_poll` ended with a FAILED or CANCELED task; `.result` holds the final answer."""

    status_code = 200
    reason = "TASK_FAILED"

    def __init__(self, result: TaskResultResponse) -> None:
        status = result.task.status.value.removeprefix("TASK_STATUS_").lower()
        super().__init__(f"task {result.task.task_id} {status}: {result.task.reason or 'no reason given'}")
        self.result = result


class Videos:
    def __init__(self, client: Shotline) -> None:
        self._client = client

    def create(self, *, idempotency_key: str | None = None, **fields: Any) -> str:
        """Submit a task (fields as in the API: prompt or multi_prompt, duration, cfg_scale, aspect_ratio,
        sound, negative_prompt, extra); returns its task_id. Validated locally first, so a typo fails
        before any request; a retried create sends the same Idempotency-Key and gets the same task."""
        try:
            body = CreateTaskRequest.model_validate(fields).model_dump(exclude_unset=True, mode="json")
        except ValidationError as err:
            raise invalid_request(err.errors(), CreateTaskRequest) from None
        key = idempotency_key or str(uuid.uuid4())
        response = self._client.request("POST", CREATE_PATH, json=body, headers={"Idempotency-Key": key},
                                        retry=True)
        return str(response.json()["task_id"])

    def retrieve(self, task_id: str) -> TaskResultResponse:
        response = self._client.request("GET", RESULT_PATH, params={"task_id": task_id}, retry=True)
        return TaskResultResponse.model_validate(response.json())

    def poll(
        self,
        task_id: str,
        *,
        on_progress: Callable[[TaskResultResponse], None] | None = None,
        interval: float = 0.5,
        max_interval: float = 5.0,
        timeout: float | None = None,
    ) -> TaskResultResponse:
        """Wait until the task is terminal. Polls fast at first, then backs off to `max_interval`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        while True:
            result = self.retrieve(task_id)
            if on_progress is not None:
                on_progress(result)
            if result.task.status.is_terminal:
                return result
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {result.task.status.value} after {timeout} s")
            time.sleep(delay)
            delay = min(max_interval, delay * 1.25)

    def create_and_poll(self, *, on_progress: Callable[[TaskResultResponse], None] | None = None,
                        timeout: float | None = None, **fields: Any) -> TaskResultResponse:
        """Create, wait, and return the final result; raises TaskFailed unless it SUCCEEDed."""
        result = self.poll(self.create(**fields), on_progress=on_progress, timeout=timeout)
        if result.task.status.value != "TASK_STATUS_SUCCEED":
            raise TaskFailed(result)
        return result

    def download(self, result: TaskResultResponse | str, path: str | Path) -> Path:
        """Save the video of a finished task (a result, or a task_id) to `path`; written whole or not at all."""
        if isinstance(result, str):
            result = self.retrieve(result)
        if not result.videos:
            raise ValueError(f"task {result.task.task_id} has no video ({result.task.status.value})")
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        # The signed URL needs no key; it may point at another host (a CDN or S3), so no auth header goes.
        with httpx.stream("GET", result.videos[0].video_url, timeout=self._client.timeout, follow_redirects=True) as r:
            if r.status_code >= 400:
                r.read()
                raise _error(r)
            with tmp.open("wb") as f:
                for chunk in r.iter_bytes(1 << 20):
                    f.write(chunk)
        tmp.replace(path)
        return path


class Shotline:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, max_retries: int = 3,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}"})
        self.videos = Videos(self)

    def request(self, method: str, path: str, *, retry: bool = False, **kwargs: Any) -> httpx.Response:
        """Send a request; on connection errors, 429 and 5xx retry (only `retry=True` calls: safe to
        repeat, or made safe by an Idempotency-Key), honouring Retry-After."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if not retry or attempt >= self.max_retries:
                    raise
                time.sleep(min(8.0, 0.5 * 2**attempt))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if retry and attempt < self.max_retries and (response.status_code == 429 or response.status_code >= 500):
                time.sleep(_retry_after(response, default=min(8.0, 0.5 * 2**attempt)))
                attempt += 1
                continue
            raise _error(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Shotline:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    return min(60.0, float(value)) if value.replace(".", "", 1).isdigit() else default


def _error(response: httpx.Response) -> ShotlineError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return error_from_body(response.status_code, body, headers=dict(response.headers))
