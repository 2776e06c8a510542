"""The SDK against a real `shotline serve` process with its worker (tiny engine): sync and async, errors
raised as their classes, retries that never make a second task."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from shotline.client import (
    AsyncShotline,
    Conflict,
    ConnectionFailed,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    Shotline,
    TaskResultResponse,
    TaskStatus,
    Unauthorized,
)
from tests.helpers.idle import LossyProxy
from tests.helpers.server import KEY_A, KEY_B, LiveServer
from tests.helpers.services import free_port

av = pytest.importorskip("av")


def mp4_facts(path: Path) -> tuple[float, list[tuple[str, str]]]:
    with av.open(str(path)) as c:
        return float(c.duration or 0) / 1_000_000, [(s.type, s.codec_context.name) for s in c.streams]


def test_create_and_poll_then_download(live_server: LiveServer, tmp_path: Path) -> None:
    seen: list[TaskResultResponse] = []
    with Shotline(live_server.base_url, KEY_A) as client:
        result = client.videos.create_and_poll(prompt="a red fox in snow", duration=3, sound=True, seed=7,
                                               on_progress=seen.append)
        assert result.task.status is TaskStatus.SUCCEED and result.extra.seed == "7"
        saved = client.videos.download(result, tmp_path / "fox.mp4")
        # Given only the id, download fetches a fresh signed URL first.
        again = client.videos.download(result.task.task_id, tmp_path / "by-id" / "fox.mp4")
        # A result whose link no longer works (403) is refreshed once, by its task_id.
        stale = result.model_copy(deep=True)
        stale.videos[0].video_url = stale.videos[0].video_url.replace("expires=", "expires=1")
        refreshed = client.videos.download(stale, tmp_path / "refreshed.mp4")
    percents = [r.task.progress_percent for r in seen]
    assert percents == sorted(percents) and percents[-1] == 100, percents
    assert seen[-1].task.status is TaskStatus.SUCCEED
    duration, streams = mp4_facts(saved)
    assert abs(duration - 3.0) < 0.1 and streams == [("video", "h264"), ("audio", "aac")]
    assert again.read_bytes() == saved.read_bytes() == refreshed.read_bytes()
    assert not list(tmp_path.rglob("*.part"))


def test_async_create_and_poll_multi_shot(live_server: LiveServer, tmp_path: Path) -> None:
    seen: list[int] = []

    async def progress(result: TaskResultResponse) -> None:  # a coroutine callback is awaited
        seen.append(result.task.progress_percent)

    async def main() -> tuple[TaskResultResponse, Path]:
        async with AsyncShotline(live_server.base_url, KEY_A) as client:
            result = await client.videos.create_and_poll(
                multi_prompt=[{"prompt": "a fox wakes", "duration": 1}, {"prompt": "a fox runs"}], duration=4,
                aspect_ratio="9:16", on_progress=progress)
            return result, await client.videos.download(result.task.task_id, tmp_path / "shots.mp4")

    result, path = asyncio.run(main())
    assert result.task.status is TaskStatus.SUCCEED
    assert seen == sorted(seen) and seen[-1] == 100
    duration, streams = mp4_facts(path)
    assert abs(duration - 4.0) < 0.1 and streams == [("video", "h264")]
    with av.open(str(path)) as c:
        assert c.streams.video[0].height > c.streams.video[0].width  # 9:16 is portrait


def test_a_bad_request_fails_locally_before_any_request() -> None:
    # Nothing listens on this port: an InvalidRequest (not a ConnectionFailed) proves nothing was sent.
    with Shotline(f"http://127.0.0.1:{free_port()}", "k", max_retries=0) as client:
        with pytest.raises(InvalidRequest) as bad:
            client.videos.create(prompt="x", duration=20)
        assert bad.value.field == "duration" and bad.value.message == "duration: must be between 3 and 15, got 20"
        with pytest.raises(InvalidRequest) as typo:
            client.videos.create(prompt="x", aspect="1:1")  # type: ignore[call-arg]
        assert typo.value.field == "aspect"


def test_each_server_error_is_its_class(live_server: LiveServer) -> None:
    with Shotline(live_server.base_url, KEY_A) as client:
        with pytest.raises(InvalidRequest) as bad_key:  # only the server checks the Idempotency-Key's form
            client.videos.create(prompt="x", duration=3, idempotency_key="has a space")
        assert bad_key.value.status_code == 400 and bad_key.value.field == "Idempotency-Key"
        assert bad_key.value.reason == "INVALID_REQUEST_BODY"
        with pytest.raises(InvalidRequest) as bad_status:
            client.videos.list(status="DONE")
        assert bad_status.value.field == "status" and "TASK_STATUS_SUCCEED" in bad_status.value.message

        with pytest.raises(NotFound) as missing:
            client.videos.retrieve(str(uuid.uuid4()))
        assert missing.value.status_code == 404 and missing.value.message == "task_id: no such task"

        key = f"conflict-{uuid.uuid4()}"
        first = client.videos.create(prompt="one", duration=3, idempotency_key=key)
        assert client.videos.create(prompt="one", duration=3, idempotency_key=key) == first
        with pytest.raises(Conflict) as reused:
            client.videos.create(prompt="two", duration=3, idempotency_key=key)
        assert reused.value.field == "Idempotency-Key" and first in reused.value.message

    with Shotline(live_server.base_url, "not-a-key") as stranger:
        with pytest.raises(Unauthorized) as who:
            stranger.videos.retrieve(first)
        assert who.value.status_code == 401 and who.value.field == "Authorization"
        assert who.value.message == "Authorization: unknown or revoked API key"


def test_async_errors_are_the_same_classes(live_server: LiveServer) -> None:
    async def main() -> None:
        async with AsyncShotline(live_server.base_url, KEY_A) as client:
            with pytest.raises(NotFound):
                await client.videos.retrieve(str(uuid.uuid4()))
        async with AsyncShotline(live_server.base_url, "nope") as stranger:
            with pytest.raises(Unauthorized):
                await stranger.videos.list()

    asyncio.run(main())


def test_a_lost_create_answer_is_retried_into_the_same_task(live_server: LiveServer) -> None:
    """The first try reaches the server, which makes the task, but the answer is lost on the way back:
    the SDK retries with the same Idempotency-Key and gets that task, not a second one."""
    with Shotline(live_server.base_url, KEY_B) as direct:
        before = [t.task.task_id for t in direct.videos.list(limit=100)]
    proxy = LossyProxy(live_server.port, drop_answers=1)
    try:
        with Shotline(proxy.base_url, KEY_B, max_retries=2) as client:
            task_id = client.videos.create(prompt="a lighthouse", duration=3)
            assert proxy.connections == 2
            result = client.videos.poll(task_id)
    finally:
        proxy.close()
    with Shotline(live_server.base_url, KEY_B) as direct:
        after = [t.task.task_id for t in direct.videos.list(limit=100)]
    assert [t for t in after if t not in before] == [task_id]
    assert result.task.status is TaskStatus.SUCCEED


def test_async_create_answer_lost_too(live_server: LiveServer) -> None:
    proxy = LossyProxy(live_server.port, drop_answers=1)

    async def main() -> str:
        async with AsyncShotline(proxy.base_url, KEY_B) as client:
            return await client.videos.create(prompt="a harbour", duration=3)

    try:
        with Shotline(live_server.base_url, KEY_B) as direct:
            before = {t.task.task_id for t in direct.videos.list(limit=100)}
            task_id = asyncio.run(main())
            after = {t.task.task_id for t in direct.videos.list(limit=100)}
    finally:
        proxy.close()
    assert after - before == {task_id} and proxy.connections == 2


def test_connection_refused_then_accepted_is_retried(live_server: LiveServer) -> None:
    """Nothing listens on the port at the first try; the server appears there before the second."""
    port, proxies, tries = free_port(), [], []

    def on_request(request: httpx.Request) -> None:
        tries.append(request.url.path)
        if len(tries) == 2:
            proxies.append(LossyProxy(live_server.port, port=port))

    http = httpx.Client(event_hooks={"request": [on_request]})
    try:
        with Shotline(f"http://127.0.0.1:{port}", KEY_A, max_retries=1, http_client=http) as client:
            task_id = client.videos.create(prompt="a bridge at dusk", duration=3)
        assert tries == ["/v3/async/kling-v3.0-pro-t2v"] * 2
        with Shotline(live_server.base_url, KEY_A) as direct:
            assert direct.videos.retrieve(task_id).task.task_id == task_id
    finally:
        http.close()
        for p in proxies:
            p.close()


def test_server_down_is_connection_failed_after_the_retries() -> None:
    tries: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda r: tries.append(r.method)]})
    with Shotline(f"http://127.0.0.1:{free_port()}", "k", max_retries=2, http_client=http) as client, \
            pytest.raises(ConnectionFailed) as down:
        client.videos.retrieve(str(uuid.uuid4()))
    http.close()
    assert len(tries) == 3 and isinstance(down.value, ServiceUnavailable)
    assert "cannot reach" in down.value.message and "tried 3 times" in down.value.message
    assert isinstance(down.value.__cause__, httpx.ConnectError)


def test_a_server_that_never_answers_times_out_and_is_retried() -> None:
    """A listener that accepts and then says nothing: each try ends at the read timeout, then is retried."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        with Shotline(f"http://127.0.0.1:{port}", "k", timeout=0.3, max_retries=1) as client, \
                pytest.raises(ConnectionFailed) as slow:
            client.videos.retrieve(str(uuid.uuid4()))
    finally:
        listener.close()
    assert isinstance(slow.value.__cause__, httpx.ReadTimeout) and "tried 2 times" in slow.value.message
