"""`shotline tasks ...` as a user runs it: the installed `shotline` script in a subprocess, its exit code,
what it prints, the mp4 it saves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shotline.client import Shotline
from tests.helpers.idle import cancel_everything
from tests.helpers.server import KEY_A, LiveServer
from tests.helpers.services import free_port

av = pytest.importorskip("av")
SHOTLINE = str(Path(sys.executable).parent / "shotline")


def shotline(*args: str, server: LiveServer | str | None = None, key: str = KEY_A,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the server's address and key in the environment, as a user's shell has them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOTLINE_")}
    if server is not None:
        url = server if isinstance(server, str) else server.base_url
        env |= {"SHOTLINE_BASE_URL": url, "SHOTLINE_API_KEY": key}
    env["COLUMNS"] = "200"  # rich wraps at the terminal width; keep one task on one line
    return subprocess.run([SHOTLINE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def finished(live_server: LiveServer) -> str:
    """A task that succeeded on the live server (its worker runs the tiny engine)."""
    with Shotline(live_server.base_url, KEY_A) as client:
        return client.videos.create_and_poll(prompt="a fox in snow", duration=3, seed=11).task.task_id


@pytest.fixture
def queued(idle_server: LiveServer) -> Iterator[str]:
    with Shotline(idle_server.base_url, KEY_A) as client:
        yield client.videos.create(prompt="waits forever", duration=3)
    cancel_everything(idle_server)


def test_list_as_table_and_json(live_server: LiveServer, finished: str) -> None:
    table = shotline("tasks", "list", server=live_server)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if finished in line)
    assert "succeed" in row and "3s" in row and "16:9" in row and "a fox in snow" in row  # what it was
    as_json = shotline("tasks", "list", "--status", "succeed", "--limit", "1", "--json", server=live_server)
    assert as_json.returncode == 0, as_json.stderr
    tasks = json.loads(as_json.stdout)["tasks"]
    assert [t["task"]["task_id"] for t in tasks] == [finished]
    assert tasks[0]["task"]["status"] == "TASK_STATUS_SUCCEED"


def test_show_and_download(live_server: LiveServer, finished: str, tmp_path: Path) -> None:
    shown = shotline("tasks", "show", finished, server=live_server)
    assert shown.returncode == 0, shown.stderr
    assert finished in shown.stdout and "succeed" in shown.stdout and "video" in shown.stdout
    as_json = json.loads(shotline("tasks", "show", finished, "--json", server=live_server).stdout)
    assert as_json["extra"]["seed"] == "11" and as_json["videos"][0]["video_type"] == "mp4"

    out = tmp_path / "out.mp4"
    saved = shotline("tasks", "download", finished, "-o", str(out), server=live_server)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.strip() == str(out.resolve())
    with av.open(str(out)) as c:
        assert abs(float(c.duration) / 1_000_000 - 3.0) < 0.1 and c.streams.video[0].codec_context.name == "h264"


def test_download_wait_follows_a_new_task(live_server: LiveServer, tmp_path: Path) -> None:
    with Shotline(live_server.base_url, KEY_A) as client:
        task_id = client.videos.create(prompt="a tram", duration=3)
    saved = shotline("tasks", "download", task_id, "--wait", "-o", str(tmp_path / "t.mp4"), server=live_server)
    assert saved.returncode == 0, saved.stderr
    assert "100%" in saved.stderr and (tmp_path / "t.mp4").stat().st_size > 0


def test_cancel_then_cancel_again(idle_server: LiveServer, queued: str, tmp_path: Path) -> None:
    early = shotline("tasks", "download", queued, "-o", str(tmp_path / "q.mp4"), server=idle_server)
    assert early.returncode == 1 and "has no video (TASK_STATUS_QUEUED" in early.stderr
    canceled = shotline("tasks", "cancel", queued, "--json", server=idle_server)
    assert canceled.returncode == 0, canceled.stderr
    assert json.loads(canceled.stdout)["task"]["status"] == "TASK_STATUS_CANCELED"
    again = shotline("tasks", "cancel", queued, server=idle_server)
    assert again.returncode == 1 and "already ended (TASK_STATUS_CANCELED)" in again.stderr


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr  # no traceback, one line
    return lines[0]


def test_unknown_task_is_exit_4(live_server: LiveServer) -> None:
    proc = shotline("tasks", "show", str(uuid.uuid4()), server=live_server)
    assert proc.returncode == 4 and one_line_error(proc) == "error: task_id: no such task"


def test_wrong_key_is_exit_3(live_server: LiveServer) -> None:
    proc = shotline("tasks", "list", server=live_server, key="wrong")
    assert proc.returncode == 3
    assert "unknown or revoked API key" in one_line_error(proc) and "SHOTLINE_API_KEY" in proc.stderr


def test_bad_input_is_exit_2(live_server: LiveServer) -> None:
    proc = shotline("tasks", "list", "--cursor-typo", server=live_server)
    assert proc.returncode == 2  # a usage error, caught by the CLI itself
    proc = shotline("tasks", "list", "--status", "done", server=live_server)
    assert proc.returncode == 2 and "done" in proc.stderr
    proc = shotline("tasks", "show", "", server=live_server)  # the server's own 400, naming the field
    assert proc.returncode == 2 and one_line_error(proc) == "error: task_id: is required (?task_id=<id>)"


def test_server_down_is_exit_6() -> None:
    proc = shotline("tasks", "list", "--base-url", f"http://127.0.0.1:{free_port()}", "--api-key", "k")
    assert proc.returncode == 6
    *retries, last = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(retries) == 2 and all("retrying in" in line for line in retries)  # the SDK's retries, shown
    assert last.startswith("error: cannot reach") and "is the server running?" in last


def test_every_error_class_has_its_exit_code() -> None:
    """The table in docs/cli.md, for the classes a live test cannot cheaply provoke (429, 5xx)."""
    from shotline.cli.remote import describe, exit_code
    from shotline.client import TaskFailed, TaskResultResponse, VideoNotReady
    from shotline.errors import (
        Conflict,
        ConnectionFailed,
        Forbidden,
        InternalError,
        InvalidRequest,
        NotFound,
        PayloadTooLarge,
        RateLimited,
        ServiceUnavailable,
        Unauthorized,
        UnsupportedMediaType,
        error_from_body,
    )

    failed = TaskFailed(TaskResultResponse.model_validate(
        {"task": {"task_id": "t", "status": "TASK_STATUS_FAILED", "reason": "out of memory"}}))
    expected = {failed: 1, Conflict("c"): 1, VideoNotReady("v"): 1, InvalidRequest("i"): 2, PayloadTooLarge("p"): 2,
                UnsupportedMediaType("u"): 2, Unauthorized("a"): 3, Forbidden("f"): 3, NotFound("n"): 4,
                RateLimited("r"): 5, InternalError("e"): 6, ServiceUnavailable("s"): 6, ConnectionFailed("x"): 6,
                error_from_body(502, "<html>bad gateway</html>"): 6}
    assert {type(e).__name__ + str(e.status_code): int(exit_code(e)) for e in expected} == \
        {type(e).__name__ + str(e.status_code): code for e, code in expected.items()}
    limited = error_from_body(429, {"message": "slow down\nplease"}, headers={"retry-after": "7"})
    assert describe(limited) == "slow down please (retry after 7 s)"
    assert str(failed) == "task t failed: out of memory"


def test_flags_win_over_the_environment(live_server: LiveServer, finished: str) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    proc = shotline("tasks", "show", finished, "--json", "--base-url", live_server.base_url, server=down)
    assert proc.returncode == 0 and json.loads(proc.stdout)["task"]["task_id"] == finished
