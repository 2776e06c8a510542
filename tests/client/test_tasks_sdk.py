"""Cancel, list and the queue quota through the SDK, on a live server with no worker: tasks stay QUEUED
until canceled, so every answer here is deterministic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx
import pytest

from shotline.client import (
    AsyncShotline,
    Conflict,
    RateLimited,
    Shotline,
    TaskFailed,
    TaskStatus,
    VideoNotReady,
)
from shotline.client._core import Call, PollSchedule, RetryPolicy
from tests.helpers.idle import cancel_everything
from tests.helpers.server import KEY_A, LiveServer


@pytest.fixture(autouse=True)
def clean_queue(idle_server: LiveServer) -> Iterator[None]:
    yield
    cancel_everything(idle_server)


def test_cancel_a_queued_task_then_cancel_again_is_conflict(idle_server: LiveServer, tmp_path) -> None:
    with Shotline(idle_server.base_url, KEY_A) as client:
        task_id = client.videos.create(prompt="a quiet lake", duration=3)
        with pytest.raises(VideoNotReady) as early:  # a queued task has no video to download
            client.videos.download(task_id, tmp_path / "x.mp4")
        assert "TASK_STATUS_QUEUED" in early.value.message and not (tmp_path / "x.mp4").exists()
        canceled = client.videos.cancel(task_id)
        assert canceled.task.status is TaskStatus.CANCELED
        assert client.videos.retrieve(task_id).task.status is TaskStatus.CANCELED
        with pytest.raises(Conflict) as ended:
            client.videos.cancel(task_id)
        assert ended.value.field == "task_id" and "already ended" in ended.value.message
        with pytest.raises(TaskFailed) as failed:  # create_and_poll ends in TaskFailed for a canceled task
            client.videos.create_and_poll(prompt="a quiet lake", duration=3, timeout=60,
                                          on_progress=lambda r: client.videos.cancel(r.task.task_id)
                                          if not r.task.status.is_terminal else None)
        assert failed.value.status is TaskStatus.CANCELED and failed.value.result.task.status is TaskStatus.CANCELED


def test_list_walks_every_page_newest_first(idle_server: LiveServer) -> None:
    with Shotline(idle_server.base_url, KEY_A) as client:
        made = []
        for i in range(5):  # the quota is one queued task: cancel each before the next
            made.append(client.videos.create(prompt=f"shot {i}", duration=3))
            client.videos.cancel(made[-1])
        page = client.videos.list(status=TaskStatus.CANCELED, limit=2)
        assert len(page.tasks) == 2 and page.has_next_page()
        pages = list(page.iter_pages())
        listed = [t.task.task_id for t in page]  # iteration walks all pages
    assert [len(p.tasks) for p in pages][-1] >= 1 and pages[-1].next_cursor is None
    assert listed[:5] == made[::-1]
    assert all(t.task.status is TaskStatus.CANCELED for p in pages for t in p.tasks)


def test_async_list_and_cancel(idle_server: LiveServer) -> None:
    async def main() -> tuple[list[str], str, TaskStatus]:
        async with AsyncShotline(idle_server.base_url, KEY_A) as client:
            task_id = await client.videos.create(prompt="an owl", duration=3)
            queued = [t.task.task_id async for t in await client.videos.list(status="TASK_STATUS_QUEUED")]
            canceled = await client.videos.cancel(task_id)
            return queued, task_id, canceled.task.status

    queued, task_id, status = asyncio.run(main())
    assert queued == [task_id] and status is TaskStatus.CANCELED


def test_over_the_queue_quota_is_rate_limited_with_retry_after(idle_server: LiveServer) -> None:
    with Shotline(idle_server.base_url, KEY_A, max_retries=0) as client:
        client.videos.create(prompt="first", duration=3)
        with pytest.raises(RateLimited) as full:
            client.videos.create(prompt="second", duration=3)
    assert full.value.status_code == 429 and full.value.reason == "RATE_LIMITED"
    assert full.value.retry_after == 10  # no task has finished yet: the server's default estimate
    assert "the limit is 1" in full.value.message


def test_a_rate_limited_create_waits_as_told_then_succeeds(idle_server: LiveServer,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """The queue is full at the first try; by the retry the blocking task was canceled. The SDK waited the
    server's Retry-After (the log says how long), not its own backoff."""
    with Shotline(idle_server.base_url, KEY_A) as other:
        blocker = other.videos.create(prompt="blocker", duration=3)
        tries = []

        def on_request(request: httpx.Request) -> None:
            tries.append(request.method)
            if len(tries) == 2:
                other.videos.cancel(blocker)

        http = httpx.Client(event_hooks={"request": [on_request]})
        with caplog.at_level(logging.INFO, logger="shotline.client"), \
                Shotline(idle_server.base_url, KEY_A, max_retries=1, http_client=http) as client:
            task_id = client.videos.create(prompt="patient", duration=3)
        http.close()
        assert len(tries) == 2 and other.videos.retrieve(task_id).task.status is TaskStatus.QUEUED
    assert "retrying in 10.0 s" in caplog.text


def test_retry_policy_and_poll_schedule() -> None:
    """The shared rules both clients run: Retry-After wins over backoff; too long a Retry-After is not
    waited out; only 429 and 502-504 are retried; polling backs off but not past the server's estimate."""
    call = Call("GET", "/x")

    def answer(status: int, retry_after: str | None = None) -> httpx.Response:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return httpx.Response(status, json={"code": status, "reason": "X", "message": "m"}, headers=headers)

    attempts = RetryPolicy(max_retries=3).start(call)
    assert attempts.wait_or_raise(response=answer(429, "7")) == 7.0
    assert 0.75 <= attempts.wait_or_raise(response=answer(503)) <= 1.0  # second backoff: 1 s, jittered
    with pytest.raises(RateLimited):
        RetryPolicy().start(call).wait_or_raise(response=answer(429, "3600"))
    with pytest.raises(Exception) as bug:
        RetryPolicy().start(call).wait_or_raise(response=answer(500))
    assert bug.value.status_code == 500

    from shotline.protocol.kling import TaskInfo, TaskResultResponse

    def at(eta: int) -> TaskResultResponse:
        return TaskResultResponse(task=TaskInfo(task_id="t", status=TaskStatus.PROCESSING, eta=eta))

    schedule = PollSchedule(0.5, 5.0)
    delays = [schedule.delay(at(100)) for _ in range(8)]
    assert delays == sorted(delays) and delays[0] == 0.5 and delays[-1] == 5.0
    assert schedule.delay(at(2)) == 2.0  # the task should end in 2 s: no 5 s nap


def test_the_sdk_needs_no_server_code(idle_server: LiveServer) -> None:
    """`shotline.client` works with the server's packages (and torch) unimportable: what `pip install
    shotline` without extras on a laptop needs is httpx and pydantic."""
    import subprocess
    import sys

    blocked = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "torch", "diffusers", "av", "numpy",
               "celery", "boto3", "shotline.api", "shotline.service", "shotline.db", "shotline.config")
    code = f"""
import sys
for name in {blocked!r}:
    sys.modules[name] = None
from shotline.client import Shotline, AsyncShotline
with Shotline({idle_server.base_url!r}, {KEY_A!r}) as client:
    print(len(client.videos.list().tasks) >= 0)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr
