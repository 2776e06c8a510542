"""The asyncio client: the same surface as `Shotline`, every call awaited. The rules (requests, parsing,
retries, polling) live in `_core`, shared with the sync client."""

from __future__ import annotations

import asyncio
import inspect
import time
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
    """`async with AsyncShotline(base_url, api_key) as client: await client.videos.create_and_poll(...)`."""

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
            await asyncio.sleep(wait)

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
            await asyncio.sleep(wait)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


class AsyncVideos:
    """As `Videos`, awaited. `on_progress` may be a plain function or a coroutine function."""

    def __init__(self, client: AsyncShotline) -> None:
        self._client = client

    async def create(self, request: CreateTaskRequest | Mapping[str, Any] | None = None, *,
                     idempotency_key: str | None = None, **fields: Unpack[CreateFields]) -> str:
        call = _core.create_call(request, fields, idempotency_key)
        return _core.parse_task_id(await self._client._send(call))

    async def retrieve(self, task_id: str) -> TaskResultResponse:
        return _core.parse_result(await self._client._send(_core.result_call(task_id)))

    async def cancel(self, task_id: str) -> TaskResultResponse:
        try:
            return _core.parse_result(await self._client._send(_core.cancel_call(task_id)))
        except Conflict as err:
            if getattr(err, "attempts", 1) > 1 and err.metadata.get("status") == TaskStatus.CANCELED.value:
                return await self.retrieve(task_id)
            raise

    async def list(self, *, status: TaskStatus | str | None = None, limit: int = 20) -> AsyncTaskPage:
        return await self._page(_core.list_call(status, limit, None), status, limit)

    async def _page(self, call: Call, status: TaskStatus | str | None, limit: int) -> AsyncTaskPage:
        body = _core.parse_list(await self._client._send(call))
        return AsyncTaskPage(self, PageData(body.tasks, body.next_cursor, status, limit))

    async def poll(self, task_id: str, *, on_progress: Callable[[TaskResultResponse], object] | None = None,
                   interval: float = 0.5, max_interval: float = 5.0,
                   timeout: float | None = None) -> TaskResultResponse:
        schedule = _core.PollSchedule(interval, max_interval)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            result = await self.retrieve(task_id)
            if on_progress is not None:
                returned = on_progress(result)
                if inspect.isawaitable(returned):
                    await returned
            if result.task.status.is_terminal:
                return result
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {result.task.status.value} after {timeout} s")
            await asyncio.sleep(schedule.delay(result))

    async def create_and_poll(self, request: CreateTaskRequest | Mapping[str, Any] | None = None, *,
                              on_progress: Callable[[TaskResultResponse], object] | None = None,
                              timeout: float | None = None, idempotency_key: str | None = None,
                              **fields: Unpack[CreateFields]) -> TaskResultResponse:
        task_id = await self.create(request, idempotency_key=idempotency_key, **fields)
        return _core.succeeded_or_raise(await self.poll(task_id, on_progress=on_progress, timeout=timeout))

    async def download(self, task: TaskResultResponse | str, path: str | Path) -> Path:
        result = await self.retrieve(task) if isinstance(task, str) else task
        try:
            return await self._client._download(_core.download_call(result), Path(path))
        except Forbidden:
            if isinstance(task, str):
                raise
            fresh = await self.retrieve(result.task.task_id)
            return await self._client._download(_core.download_call(fresh), Path(path))


class AsyncTaskPage:
    """One page of tasks; `async for task in page` walks this page and every later one."""

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
