"""The full server path with the real-weights engines: `shotline serve` with SHOTLINE_ENGINE=ltx2 or wan and
SHOTLINE_MODEL pointing at tiny weights on disk; the client polls, downloads the signed mp4, and PyAV checks it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import av
import httpx
import pytest
import torch  # noqa: F401

from tests.engines.conftest import server_env
from tests.helpers.server import CREATE, LiveServer, wait_terminal

CASES = {
    "16x9-sound": {"prompt": "a red fox runs through snow", "duration": 3, "aspect_ratio": "16:9", "sound": True},
    "2-shots-sound": {"multi_prompt": [{"prompt": "waves"}, {"prompt": "gulls", "duration": 1}], "duration": 3,
                      "aspect_ratio": "9:16", "sound": True, "negative_prompt": "music"},
    "1x1-silent": {"prompt": "a drummer", "duration": 3, "aspect_ratio": "1:1", "cfg_scale": 0.9},
}
SIZES = {"16:9": (256, 128), "9:16": (128, 256), "1:1": (128, 128)}  # SHOTLINE_PRESET=test


def run_cases(server: LiveServer, out_dir: Path) -> dict[str, tuple[dict, Path]]:
    done = {}
    with server.client() as http:
        ids = {name: http.post(CREATE, json=body).json()["task_id"] for name, body in CASES.items()}
        for name, task_id in ids.items():
            body = wait_terminal(http, task_id)
            assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
            r = httpx.get(body["videos"][0]["video_url"], timeout=30, follow_redirects=True)
            assert r.status_code == 200
            path = out_dir / f"{name}.mp4"
            path.write_bytes(r.content)
            done[name] = (body, path)
    return done


# Every recipe of both engines (SHOTLINE_QUALITY), with sound on and off and several shots.
RECIPES = [("ltx2", "fast"), ("ltx2", "standard"), ("ltx2", "max"), ("wan", "fast"), ("wan", "standard")]


@pytest.mark.parametrize(("engine", "quality"), RECIPES, ids=lambda v: v)
def test_engine_on_saved_weights_makes_the_requested_mp4(tiny_models, tmp_path: Path, engine: str,
                                                         quality: str) -> None:
    fps = {"ltx2": 24, "wan": 16}[engine]
    extra = {"SHOTLINE_QUALITY": quality}
    if engine == "wan" and quality == "fast":
        extra["SHOTLINE_DISTILL_LORA"] = str(tiny_models["wan"] / "wan-tiny-step-distill-lora.safetensors")
    server = LiveServer(tmp_path / "data", **server_env(tiny_models, engine, **extra)).start()
    try:
        results = run_cases(server, tmp_path)
    finally:
        server.stop()
    log = server.log.read_text()
    assert f"engine {engine} loaded in" in log and re.search(r"ended \S*SUCCEED in", log)  # load and task times
    for name, (body, path) in results.items():
        request = CASES[name]
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            audio = container.streams.audio
            assert video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"
            assert (video.codec_context.width, video.codec_context.height) == SIZES[request["aspect_ratio"]]
            assert video.average_rate == fps
            n_frames = sum(1 for _ in container.decode(video=0))
            assert n_frames == request["duration"] * fps
            meta = dict(container.metadata)
        assert meta["shotline_engine"] == engine and meta["shotline_seed"] == body["extra"]["seed"]
        assert body["extra"]["engine"] == engine and body["extra"]["model"] == engine
        assert body["extra"]["recipe"] == quality
        if quality == "fast":  # a distilled run without guidance says that cfg_scale and negative_prompt do nothing
            assert "cfg_scale and negative_prompt have no effect" in body["extra"]["guidance"]
        if request.get("sound"):
            assert len(audio) == 1 and audio[0].codec_context.name == "aac" and audio[0].channels == 2
            with av.open(str(path)) as container:
                samples = sum(f.samples for f in container.decode(audio=0))
                rate = container.streams.audio[0].rate
            assert abs(samples / rate - request["duration"]) <= 1 / fps + 1024 / rate  # one frame (+ AAC's block)
        else:
            assert len(audio) == 0


def test_damaged_weights_fail_tasks_with_the_path_and_the_server_recovers_once_fixed(tiny_models,
                                                                                      tmp_path: Path) -> None:
    weights = tmp_path / "ltx2"
    shutil.copytree(tiny_models["ltx2"], weights)
    damaged = weights / "transformer" / "diffusion_pytorch_model.safetensors"
    good = damaged.read_bytes()
    damaged.write_bytes(good[:1000])
    server = LiveServer(tmp_path / "data", **server_env(tiny_models, "ltx2", SHOTLINE_MODEL=str(weights)))
    server.start(wait_ready=False)
    try:
        with server.client() as http:
            failed = wait_terminal(http, http.post(CREATE, json=CASES["1x1-silent"]).json()["task_id"])
            assert failed["task"]["status"] == "TASK_STATUS_FAILED"
            assert f"weights file {damaged} is damaged" in failed["task"]["reason"]
            ready = httpx.get(server.base_url + "/readyz")
            assert ready.status_code == 503 and "damaged" in ready.text

            damaged.write_bytes(good)  # the operator puts the file back; no restart
            body = wait_terminal(http, http.post(CREATE, json=CASES["1x1-silent"]).json()["task_id"])
            assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
            assert httpx.get(server.base_url + "/readyz").status_code == 200
    finally:
        server.stop()
    assert "worker process exited" not in server.log.read_text()  # one worker all along: no crash loop
