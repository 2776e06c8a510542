"""The OpenAI video API end to end: the official `openai` package against a real `shotline serve` (embedded,
and API + `shotline worker` processes on PostgreSQL, Redis and S3) running the tiny engine. The client
creates, polls, lists, downloads (PyAV checks the mp4) and deletes, exactly as it would against OpenAI."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.helpers.server import AUTH_A, KEY_A, KEY_B, RESULT, LiveServer

av = pytest.importorskip("av")

FPS = 24  # the tiny engine's
CASES = {
    "16:9": {"prompt": "a red fox runs through snow", "size": "1280x720", "seconds": "3"},
    "9:16": {"prompt": "rain on a window", "size": "1024x1792", "seconds": "4"},
    "1:1": {"prompt": "a drummer", "size": "1024x1024", "seconds": "3"},
}


def oai_for(server: LiveServer, key: str = KEY_A) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{server.base_url}/v1", max_retries=0, timeout=30)


def wait_done(oai: openai.OpenAI, video_id: str, timeout: float = 180) -> tuple[openai.types.Video, list[str]]:
    """Poll as a client would; progress must never go down. Returns the final video and the statuses seen."""
    deadline, last, seen = time.monotonic() + timeout, -1, []
    while time.monotonic() < deadline:
        video = oai.videos.retrieve(video_id)
        assert video.progress >= last, f"progress went down: {last} → {video.progress}"
        last = video.progress
        if not seen or seen[-1] != video.status:
            seen.append(video.status)
        if video.status in ("completed", "failed"):
            return video, seen
        time.sleep(0.1)
    raise AssertionError(f"video {video_id} not done after {timeout} s: {video}")


@pytest.fixture(scope="module")
def made(backend_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Every case created at once (they queue), then each polled to the end and downloaded."""
    out = tmp_path_factory.mktemp("openai-videos")
    with oai_for(backend_server) as oai:
        created = {name: oai.videos.create(**body) for name, body in CASES.items()}  # type: ignore[arg-type]
        done = {}
        for name, video in created.items():
            final, statuses = wait_done(oai, video.id)
            path = out / f"{name.replace(':', 'x')}.mp4"
            if final.status == "completed":
                oai.videos.download_content(video.id).write_to_file(path)
            done[name] = {"created": video, "final": final, "statuses": statuses, "path": path}
        yield done


def test_created_as_queued_then_completed(made: dict) -> None:
    for name, case in made.items():
        created, final = case["created"], case["final"]
        assert created.status == "queued" and created.progress == 0, name
        assert final.status == "completed", (name, final)
        assert case["statuses"][-1] == "completed" and set(case["statuses"]) <= {"queued", "in_progress", "completed"}
        assert final.progress == 100 and final.error is None
        assert final.completed_at is not None and final.completed_at >= final.created_at
        assert (final.size, final.seconds, final.prompt) == (CASES[name]["size"], CASES[name]["seconds"],
                                                            CASES[name]["prompt"])
        assert final.id == created.id and final.model == "sora-2"


@pytest.mark.parametrize("name", list(CASES))
def test_mp4_has_the_requested_aspect_and_length(made: dict, name: str) -> None:
    from shotline.media.mp4 import describe

    info = describe(made[name]["path"])
    video = next(s for s in info["streams"] if s["type"] == "video")
    audio = [s for s in info["streams"] if s["type"] == "audio"]
    width, height = video["width"], video["height"]
    assert {"16:9": width > height, "9:16": width < height, "1:1": width == height}[name], (width, height)
    seconds = int(CASES[name]["seconds"])
    assert video["codec"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert abs(video["duration_s"] - seconds) <= 1 / FPS, video
    assert len(audio) == 1 and abs(audio[0]["duration_s"] - seconds) <= 1 / FPS  # sound, as Sora's videos have


def test_list_shows_them_newest_first(backend_server: LiveServer, made: dict) -> None:
    ids = [made[name]["created"].id for name in CASES]
    with oai_for(backend_server) as oai:
        listed = [v.id for v in oai.videos.list(limit=2)]  # two pages
        assert [i for i in listed if i in ids] == ids[::-1]
        assert all(v.status == "completed" for v in oai.videos.list() if v.id in ids)
    with oai_for(backend_server, KEY_B) as other:
        assert not {v.id for v in other.videos.list()} & set(ids)


def test_same_task_and_bytes_through_the_kling_api(backend_server: LiveServer, made: dict) -> None:
    case = made["16:9"]
    with backend_server.client() as http:
        result = http.get(RESULT, params={"task_id": case["created"].id}).json()
    assert result["task"]["status"] == "TASK_STATUS_SUCCEED"
    signed = httpx.get(result["videos"][0]["video_url"], timeout=30, follow_redirects=True).content
    assert hashlib.sha256(signed).digest() == hashlib.sha256(case["path"].read_bytes()).digest()


def test_content_serves_ranges(backend_server: LiveServer, made: dict) -> None:
    case = made["1:1"]
    data = case["path"].read_bytes()
    url = f"{backend_server.base_url}/v1/videos/{case['created'].id}/content"
    r = httpx.get(url, headers={**AUTH_A, "Range": "bytes=100-199"}, timeout=30, follow_redirects=True)
    assert r.status_code == 206 and r.content == data[100:200]


def test_wrong_key_and_other_keys_video(backend_server: LiveServer, made: dict) -> None:
    video_id = made["9:16"]["created"].id
    with oai_for(backend_server, "wrong-key") as bad, pytest.raises(openai.AuthenticationError) as caught:
        bad.videos.retrieve(video_id)
    assert caught.value.code == "unauthorized"
    with oai_for(backend_server, KEY_B) as other:
        for call in (lambda: other.videos.retrieve(video_id), lambda: other.videos.download_content(video_id),
                     lambda: other.videos.delete(video_id)):
            with pytest.raises(openai.NotFoundError):
                call()
    with oai_for(backend_server) as oai:
        assert oai.videos.retrieve(video_id).status == "completed"  # still there for its owner


def test_bad_requests_name_the_field(backend_server: LiveServer) -> None:
    with oai_for(backend_server) as oai:
        for kwargs, field in (({"size": "640x480"}, "size"), ({"seconds": "20"}, "seconds"),
                              ({"model": "dall-e-3"}, "model")):
            with pytest.raises(openai.BadRequestError) as caught:
                oai.videos.create(prompt="x", **kwargs)  # type: ignore[arg-type]
            assert caught.value.param == field
            assert field in str(caught.value)


def test_delete_removes_the_video(backend_server: LiveServer, made: dict) -> None:
    video_id = made["16:9"]["created"].id
    with oai_for(backend_server) as oai:
        deleted = oai.videos.delete(video_id)
        assert (deleted.id, deleted.deleted) == (video_id, True)
        with pytest.raises(openai.NotFoundError):
            oai.videos.retrieve(video_id)
        with pytest.raises(openai.NotFoundError):
            oai.videos.download_content(video_id)
        assert video_id not in {v.id for v in oai.videos.list()}
    with backend_server.client() as http:
        assert http.get(RESULT, params={"task_id": video_id}).status_code == 404
    if not backend_server.scale:
        assert not (backend_server.data_dir / "results" / f"{video_id}.mp4").exists()
        assert (backend_server.data_dir / "results" / f"{made['1:1']['created'].id}.mp4").exists()


def test_create_and_poll(backend_server: LiveServer, tmp_path: Path) -> None:
    """The client's own poll loop (it honours the server's `openai-poll-after-ms`) ends completed."""
    with oai_for(backend_server) as oai:
        video = oai.videos.create_and_poll(prompt="waves", seconds="3", size="1792x1024")  # type: ignore[arg-type]
        assert video.status == "completed" and video.progress == 100
        oai.videos.download_content(video.id, variant="video").write_to_file(tmp_path / "v.mp4")
    with av.open(str(tmp_path / "v.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.width > stream.codec_context.height
