"""End to end through HTTP: a real `shotline serve` process with its worker child runs the tiny engine;
the client polls the task result and downloads the mp4 from the signed URL, which PyAV then checks."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import av
import httpx
import numpy as np
import pytest

from tests.helpers.server import CREATE, LiveServer, wait_terminal

CASES = {
    "16x9-sound": {"prompt": "a red fox runs through snow", "duration": 3, "aspect_ratio": "16:9", "sound": True},
    "9x16-silent": {"prompt": "rain on a window", "duration": 4, "aspect_ratio": "9:16", "sound": False},
    "1x1-sound": {"prompt": "a drummer", "duration": 3, "aspect_ratio": "1:1", "sound": True, "cfg_scale": 0.9,
                  "negative_prompt": "blur"},
    "3-shots": {"multi_prompt": [{"prompt": "a fox wakes up"}, {"prompt": "it runs", "duration": 1},
                                 {"prompt": "it sleeps"}], "duration": 4, "aspect_ratio": "1:1", "sound": True,
                "extra": {"seed": 1234}},
}
FPS = 24


@pytest.fixture(scope="module")
def results(backend_server: LiveServer, tmp_path_factory) -> dict[str, tuple[dict, Path]]:
    """Submit every case at once (they queue), then wait for each and download its video."""
    out_dir = tmp_path_factory.mktemp("videos")
    with backend_server.client() as http:
        ids = {name: http.post(CREATE, json=body).json()["task_id"] for name, body in CASES.items()}
        done = {}
        for name, task_id in ids.items():
            body = wait_terminal(http, task_id)
            assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
            path = out_dir / f"{name}.mp4"
            # No Authorization: the URL is signed. With S3 storage it redirects to the object store.
            r = httpx.get(body["videos"][0]["video_url"], timeout=30, follow_redirects=True)
            assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
            path.write_bytes(r.content)
            done[name] = (body, path)
    return done


def decode(path: Path) -> tuple[list[np.ndarray], dict]:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    from shotline.media.mp4 import describe

    return frames, describe(path)


@pytest.mark.parametrize("name", list(CASES))
def test_mp4_matches_the_request(results, name: str) -> None:
    body, path = results[name]
    request = CASES[name]
    _, info = decode(path)
    streams = info["streams"]
    sound = request.get("sound", False)
    assert [s["type"] for s in streams] == (["video", "audio"] if sound else ["video"])
    video = streams[0]
    assert video["codec"] == "h264" and video["pix_fmt"] == "yuv420p"
    duration = request.get("duration", 5)
    assert video["frames"] == duration * FPS
    assert video["fps"] == FPS
    aspect = request.get("aspect_ratio", "16:9")
    w, h = video["width"], video["height"]
    assert {"16:9": w > h, "9:16": w < h, "1:1": w == h}[aspect]
    if sound:
        audio = streams[1]
        assert audio["codec"] == "aac" and audio["channels"] == 2
        assert abs(audio["duration_s"] - video["duration_s"]) <= 1 / FPS
    meta = info["metadata"]
    assert meta["shotline_engine"] == "tiny" and meta["shotline_seed"] == body["extra"]["seed"]
    assert "noise" in meta["comment"]  # tiny output says what it is


@pytest.mark.parametrize("name", list(CASES))
def test_result_shape_when_done(results, name: str) -> None:
    body, _ = results[name]
    task = body["task"]
    assert task["status"] == "TASK_STATUS_SUCCEED" and task["progress_percent"] == 100 and task["eta"] == 0
    assert task["reason"] == "" and task["task_type"] == "KLING_V3_PRO_T2V"
    (video,) = body["videos"]
    assert video["video_type"] == "mp4" and video["video_url_ttl"] == "3600"
    times = body["extra"]["debug_info"]
    submit, execute, complete = (int(times[k]) for k in ("submit_time_ms", "execute_time_ms", "complete_time_ms"))
    assert submit <= execute <= complete
    assert body["extra"]["engine"] == "tiny" and "noise" in body["extra"]["notice"]


def coarse(frames: np.ndarray, block: int = 8) -> np.ndarray:
    """8×8 block means: H.264 keeps these even for noise, so the comparison measures alignment, not codec loss."""
    n, h, w, c = frames.shape
    return frames.reshape(n, h // block, block, w // block, block, c).mean(axis=(2, 4))


def test_multi_shot_segments_are_exactly_the_shots(results) -> None:
    """Each shot, generated alone with its seed, matches its frame range of the encoded video better than
    the same range shifted by one frame: the cuts are where the plan puts them, to the frame."""
    from shotline.config import Settings
    from shotline.engines.base import plan_generation
    from shotline.engines.tiny import TinyEngine
    from shotline.protocol.kling import CreateTaskRequest

    body, path = results["3-shots"]
    frames, _ = decode(path)
    engine = TinyEngine(Settings(_env_file=None))
    engine.load()
    plan = plan_generation(CreateTaskRequest.model_validate(CASES["3-shots"]).normalized(), engine.spec,
                           seed=int(body["extra"]["seed"]))
    assert [s.frames for s in plan.shots] == [36, 24, 36]
    video = coarse(np.stack(frames))
    for shot in plan.shots:
        alone = coarse(np.stack(list(engine.generate_shot(plan, shot, lambda _d: None).frames)))
        start, end = shot.start_frame, shot.start_frame + shot.frames
        aligned = np.abs(video[start:end] - alone).mean()
        for shift in (-1, 1):
            lo, hi = max(0, start + shift), min(len(video), end + shift)
            off = np.abs(video[lo:hi] - alone[lo - start - shift: hi - start - shift]).mean()
            assert aligned < off * 0.5, (shot.index, shift, aligned, off)


def test_same_seed_same_video(backend_server: LiveServer) -> None:
    body = {"prompt": "a lighthouse", "duration": 3, "aspect_ratio": "1:1", "sound": True, "extra": {"seed": 99}}
    digests = []
    with backend_server.client() as http:
        for _ in range(2):
            result = wait_terminal(http, http.post(CREATE, json=body).json()["task_id"])
            video = httpx.get(result["videos"][0]["video_url"], follow_redirects=True).content
            digests.append(hashlib.sha256(video).hexdigest())
    assert digests[0] == digests[1]


def _with_query(url: str, **changes: str) -> str:
    parts = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunparse(parts._replace(query=urlencode(query)))


def test_signed_url_rules(results, backend_server: LiveServer) -> None:
    live_server = backend_server
    body, path = results["16x9-sound"]
    url = body["videos"][0]["video_url"]
    size = path.stat().st_size
    # Range requests, as a browser seeking in a <video> makes them (through the redirect with S3).
    r = httpx.get(url, headers={"Range": "bytes=100-199"}, follow_redirects=True)
    assert r.status_code == 206 and r.content == path.read_bytes()[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{size}"
    head = httpx.head(url, follow_redirects=True)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size
    if live_server.scale:
        first = httpx.get(url)
        assert first.status_code == 307 and first.headers["location"].startswith(live_server.env["SHOTLINE_S3_ENDPOINT_URL"])
    else:
        r = httpx.get(url, headers={"Range": f"bytes={size + 10}-"})
        assert r.status_code == 416 and r.json()["metadata"]["field"] == "Range"
    # Tampering with anything signed is a 403 in the error shape.
    sig = parse_qs(urlparse(url).query)["signature"][0]
    for bad in (_with_query(url, signature="0" * 64), _with_query(url, expires=str(int(time.time()) + 99999)),
                _with_query(url, signature=sig[:-1] + ("0" if sig[-1] != "0" else "1"))):
        r = httpx.get(bad)
        assert r.status_code == 403 and r.json()["reason"] == "UNAUTHORIZED", r.text
    # A link signed by the server's own secret but already expired: 403, and it says so.
    from shotline.storage import signing

    secret = (live_server.data_dir / "secret.key").read_text().strip().encode()
    task_id = body["task"]["task_id"]
    expired = _with_query(url, expires=str(int(time.time()) - 5),
                          signature=signing.signature(secret, task_id, int(time.time()) - 5))
    r = httpx.get(expired)
    assert r.status_code == 403 and "expired" in r.json()["message"]
    # Another task's path with this task's signature: refused.
    other = results["1x1-sound"][0]["task"]["task_id"]
    assert httpx.get(url.replace(task_id, other)).status_code == 403
    # Path tricks never reach the file system.
    for trick in ("../secret.key", "..%2Fsecret.key", "%2e%2e/shotline.db"):
        r = httpx.get(f"{live_server.base_url}/v3/files/{trick}/video.mp4")
        assert r.status_code in (403, 404) and r.json()["code"] in (403, 404)


def test_readyz_reports_the_loaded_worker(backend_server: LiveServer) -> None:
    body = httpx.get(backend_server.base_url + "/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"] == {"store": "ok", "storage": "ok", "queue": "ok", "worker": "ok"}
