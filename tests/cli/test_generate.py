"""`shotline generate` as a user runs it: a subprocess, its exit code, what it prints, the mp4 it saves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import pytest

from shotline.cli.generate import build_shots
from tests.helpers.server import KEY_A, LiveServer
from tests.helpers.services import free_port


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shotline", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def streams(path: Path) -> list[tuple[str, str]]:
    with av.open(str(path)) as c:
        return [(s.type, s.codec_context.name) for s in c.streams]


def test_embedded_main_job(tmp_path: Path) -> None:
    """The README's main job: no server running, no key: generate starts an embedded one."""
    out = tmp_path / "fox.mp4"
    proc = run(["generate", "a red fox in snow", "--duration", "5", "--aspect-ratio", "16:9", "--sound",
                "-o", str(out)], env={"SHOTLINE_DATA_DIR": str(tmp_path / "data")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out.resolve())
    assert "100%" in proc.stderr and "noise" in proc.stderr  # the progress bar, and the tiny engine's notice
    assert streams(out) == [("video", "h264"), ("audio", "aac")]


def test_against_a_running_server_with_shots_and_json(live_server: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "shots.mp4"
    proc = run(["generate", "--shot", "a fox wakes", "--shot", "a fox: runs", "--shot", "sleeps",
                "--shot-seconds", "1,auto,1", "--duration", "4", "--aspect-ratio", "1:1", "--seed", "5", "--json", "-o", str(out),
                "--base-url", live_server.base_url, "--api-key", KEY_A], env={})
    assert proc.returncode == 0, proc.stderr
    import json

    printed = json.loads(proc.stdout)
    assert printed["path"] == str(out.resolve())
    assert printed["result"]["extra"]["seed"] == "5"
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 96


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["x", "--duration", "20"], 2, "duration: must be between 3 and 15, got 20"),
        (["x", "--aspect-ratio", "4:3"], 2, "aspect_ratio"),
        (["x", "--api-key", "wrong"], 3, "Authorization"),
    ],
)
def test_exit_codes_and_messages(live_server: LiveServer, tmp_path: Path, args: list[str], code: int,
                                 words: str) -> None:
    extra = [] if "--api-key" in args else ["--api-key", KEY_A]
    proc = run(["generate", *args, *extra, "--base-url", live_server.base_url, "-o", str(tmp_path / "x.mp4")], env={})
    assert proc.returncode == code, proc.stderr
    assert words in proc.stderr.replace("\n", " ")
    assert not (tmp_path / "x.mp4").exists()


def test_unreachable_server_is_exit_6(tmp_path: Path) -> None:
    proc = run(["generate", "x", "--base-url", f"http://127.0.0.1:{free_port()}", "--api-key", "k",
                "-o", str(tmp_path / "x.mp4")], env={}, timeout=120)
    assert proc.returncode == 6 and "cannot reach" in proc.stderr


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    env = {"SHOTLINE_DATA_DIR": str(tmp_path)}
    created = run(["keys", "create", "--name", "ci"], env)
    assert created.returncode == 0
    raw = created.stdout.strip()
    key_id = created.stderr.split("Created key ")[1].split()[0]
    listed = run(["keys", "list"], env)
    assert key_id in listed.stdout and raw not in listed.stdout
    assert run(["keys", "revoke", key_id], env).returncode == 0
    assert run(["keys", "revoke", key_id], env).returncode == 1


def test_a_shot_prompt_is_never_split() -> None:
    """Lengths come only from --shot-seconds: "10:30" or "10:2" in a prompt stays in the prompt."""
    assert build_shots(["a clock shows 10:30", "a clock shows 10:2"], None) == [
        {"prompt": "a clock shows 10:30"}, {"prompt": "a clock shows 10:2"}]
    assert build_shots(["ratio 16:9 shot", "b"], "2, auto") == [{"prompt": "ratio 16:9 shot", "duration": 2},
                                                               {"prompt": "b"}]
