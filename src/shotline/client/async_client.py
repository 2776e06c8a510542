"""The client's calls, written once. This file (asyncio: `AsyncShotline`) is the source; sync_client.py
(`Shotline`) is made from it by unasync (scripts/make_sync_client.py: `async`/`await` dropped, `Async*` names and
httpx's async methods mapped to their sync twins), as httpcore makes its sync half, so the two never drift:
a test regenerates it and compares. The rules (requests, parsing, retries, polling) live in `_core`."""

from __future__ import annotations

import time
from asyncio import sleep
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Self, Unpack

import httpx

from shotline.client import _core
from shotline.client._core import Call, CreateFields, PageData
from shotline.errors import Conflict, Forbidden
from shotline.protocol.kling import CreateTaskRequest, TaskResultResponse
from shotline.status import TaskStatus


class AsyncShotline:
    """A Shotline (or hosted Kling v3.0 Pro) server. `base_url` and `api_key` default to the environment's
    SHOTLINE_BASE_URL and SHOTLINE_API_KEY. Every call retries connection errors, 429 and 502–504 up to
    `max_retries` times (all of them are safe to repeat); errors are the classes of `shotline.errors`.
    Use it as a context manager (`with`, or `async with` for AsyncShotline), or call `close()`."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float | httpx.Timeout | None = None, max_retries: int = _core.DEFAULT_MAX_RETRIES,
                 http_client: httpx.AsyncClient | None = None) -> None:
        self._config = _core.ClientConfig(base_url, api_key, timeout, max_retries)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(follow_redirects=True)
        self.videos = AsyncVideos(self)

    @property
    def base_url(self) -> str:
        return self._config.base_url

    async def _send(self, call: Call) -> httpx.Response:
        attempts = self._config.attempts(call)
        while True:
            try:
                response = await self._http.send(self._config.build(self._http, call))
            except httpx.TransportError as error:
                wait = attempts.wait_or_raise(error=error)
            else:
                if response.is_success:
                    return response
                wait = attempts.wait_or_raise(response=response)
            await sleep(wait)

    async def _download(self, call: Call, path: Path) -> Path:
        attempts = self._config.attempts(call)
        while True:
            try:
                response = await self._http.send(self._config.build(self._http, call), stream=True)
                try:
                    if response.is_success:
                        # Local file writes are short and buffered; the network wait is what is awaited.
                        with _core.part_file(path) as f:
                            async for chunk in response.aiter_bytes(1 << 20):
                                f.write(chunk)
                        return path
                    await response.aread()
                finally:
                    await response.aclose()
                wait = attempts.wait_or_raise(response=response)
            except httpx.TransportError as error:
                wait = attempts.wait_or_raise(error=error)
            await sleep(wait)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


class AsyncVideos:
    """Text-to-video tasks: `create`, `retrieve`, `poll`, `create_and_poll`, `cancel`, `list`, `download`.
    (AsyncVideos: every call awaited, and `on_progress` may be a plain function or a coroutine function.)"""

    def __init__(self, client: AsyncShotline) -> None:
        self._client = client

    async def create(self, request: CreateTaskRequest | Mapping[str, Any] | None = None, *,
                     idempotency_key: str | None = None, **fields: Unpack[CreateFields]) -> str:
        """Submit a task and return its task_id. Fields as in the API (prompt or multi_prompt, duration,
        cfg_scale, aspect_ratio, sound, negative_prompt, extra) plus `seed`; checked locally first. Every
        create carries an Idempotency-Key (yours, or a fresh one), so a retry never makes a second task."""
        call = _core.create_call(request, fields, idempotency_key)
        return _core.parse_task_id(await self._client._send(call))

    async def retrieve(self, task_id: str) -> TaskResultResponse:
        return _core.parse_result(await self._client._send(_core.result_call(task_id)))

    async def cancel(self, task_id: str) -> TaskResultResponse:
        """Cancel a task (a queued one never starts; a running one stops at its next step). A task that had
        already ended raises Conflict, unless it was this call's own lost first try that canceled it."""
        try:
            return _core.parse_result(await self._client._send(_core.cancel_call(task_id)))
        except Conflict as err:
            if getattr(err, "attempts", 1) > 1 and err.metadata.get("status") == TaskStatus.CANCELED.value:
                return await self.retrieve(task_id)
            raise

    async def list(self, *, status: TaskStatus | str | None = None, limit: int = 20) -> AsyncTaskPage:
        """The key's tasks, newest first, `limit` a page. Iterating the page walks every later page too."""
        return await self._page(_core.list_call(status, limit, None), status, limit)

    async def _page(self, call: Call, status: TaskStatus | str | None, limit: int) -> AsyncTaskPage:
        body = _core.parse_list(await self._client._send(call))
        return AsyncTaskPage(self, PageData(body.tasks, body.next_cursor, status, limit))

    async def poll(self, task_id: str, *, on_progress: Callable[[TaskResultResponse], object] | None = None,
                   interval: float = 0.5, max_interval: float = 5.0,
                   timeout: float | None = None) -> TaskResultResponse:
        """Wait until the task is terminal and return its last result (whatever the status)."""
        schedule = _core.PollSchedule(interval, max_interval)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            result = await self.retrieve(task_id)
            await _core.areport(on_progress, result)
            if result.task.status.is_terminal:
                return result
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {result.task.status.value} after {timeout} s")
            await sleep(schedule.delay(result))

    async def create_and_poll(self, request: CreateTaskRequest | Mapping[str, Any] | None = None, *,
                              on_progress: Callable[[TaskResultResponse], object] | None = None,
                              timeout: float | None = None, idempotency_key: str | None = None,
                              **fields: Unpack[CreateFields]) -> TaskResultResponse:
        """Create, wait, return the final result; raises TaskFailed unless the task SUCCEEDed."""
        task_id = await self.create(request, idempotency_key=idempotency_key, **fields)
        return _core.succeeded_or_raise(await self.poll(task_id, on_progress=on_progress, timeout=timeout))

    async def download(self, task: TaskResultResponse | str, path: str | Path) -> Path:
        """Save a finished task's mp4 to `path` (whole or not at all). Given a task_id, it fetches a fresh
        signed URL; given a result whose URL has expired, it fetches a fresh one once."""
        result = await self.retrieve(task) if isinstance(task, str) else task
        try:
            return await self._client._download(_core.download_call(result), Path(path))
        except Forbidden:
            if isinstance(task, str):
                raise
            fresh = await self.retrieve(result.task.task_id)
            return await self._client._download(_core.download_call(fresh), Path(path))


class AsyncTaskPage:
    """One page of tasks (`.tasks`, `.next_cursor`); iterate it (`for`, or `async for` on AsyncTaskPage) to
    walk this page and every later one."""

    def __init__(self, videos: AsyncVideos, data: PageData) -> None:
        self._videos, self._data = videos, data

    @property
    def tasks(self) -> list[TaskResultResponse]:
        return self._data.tasks

    @property
    def next_cursor(self) -> str | None:
        return self._data.next_cursor

    def has_next_page(self) -> bool:
        return self._data.has_next_page()

    async def next_page(self) -> AsyncTaskPage | None:
        if not self.has_next_page():
            return None
        return await self._videos._page(self._data.next_call(), self._data.status, self._data.limit)

    async def iter_pages(self) -> AsyncIterator[AsyncTaskPage]:
        page: AsyncTaskPage | None = self
        while page is not None:
            yield page
            page = await page.next_page()

    async def __aiter__(self) -> AsyncIterator[TaskResultResponse]:
        async for page in self.iter_pages():
            for task in page.tasks:
                yield task
