"""An accepted task is never lost: kill the server or its worker mid-task and the task still ends
SUCCEED (or FAILED with a reason). Real processes, real signals."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import av
import httpx
import pytest

from tests.helpers.server import CREATE, RESULT, LiveServer, wait_terminal

# Long enough (many steps, 15 s of frames) that the test sees it PROCESSING before it ends.
SLOW = {"SHOTLINE_STEPS": "40"}
BODY = {"prompt": "a long take of a harbour at dawn", "duration": 15, "sound": True}


def wait_processing(http: httpx.Client, task_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http.get(RESULT, params={"task_id": task_id}).json()
        if body["task"]["status"] == "TASK_STATUS_PROCESSING" and body["task"]["progress_percent"] > 0:
            return body
        assert body["task"]["status"] in ("TASK_STATUS_QUEUED", "TASK_STATUS_PROCESSING"), body
        time.sleep(0.02)
    raise AssertionError("task never seen PROCESSING")


def children(pid: int) -> list[int]:
    # Per thread: the supervisor thread starts replacement workers, so look at every thread's children.
    found = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in path.read_text().split()]
    return found


def wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (ProcessLookupError, FileNotFoundError):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still running")


def task_row(server: LiveServer, task_id: str):
    from shotline.db import TaskStore, make_db

    return TaskStore(make_db(f"sqlite:///{server.data_dir / 'shotline.db'}")).get(task_id)


def worker_running(server: LiveServer, task_id: str, attempt: int, timeout: float = 60) -> int:
    """The pid of the worker process running `attempt` of the task, once it has made progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = task_row(server, task_id)
        if row.status.value == "TASK_STATUS_PROCESSING" and row.attempts == attempt and row.worker_id:
            with server.client() as http:
                wait_processing(http, task_id)
            return int(row.worker_id.split(":")[1])
        time.sleep(0.02)
    raise AssertionError(f"attempt {attempt} never started")


@pytest.mark.parametrize("how", ["server-kill-9", "server-sigterm"])
def test_server_stopped_mid_task_then_restarted(tmp_path: Path, how: str) -> None:
    server = LiveServer(tmp_path / "data", **SLOW).start()
    try:
        with server.client() as http:
            task_id = http.post(CREATE, json=BODY).json()["task_id"]
            queued_behind = http.post(CREATE, json={**BODY, "duration": 3}).json()["task_id"]
        worker = worker_running(server, task_id, attempt=1)
        assert children(server.proc.pid) == [worker]
        server.kill(signal.SIGKILL if how == "server-kill-9" else signal.SIGTERM)
        wait_gone(worker)  # the worker notices its server is gone and exits by itself
        row = task_row(server, task_id)
        if how == "server-sigterm":
            # A graceful stop hands the task back without counting it as an attempt.
            assert row.status.value == "TASK_STATUS_QUEUED" and row.attempts == 0
        else:
            assert row.status.value == "TASK_STATUS_PROCESSING"
        server.start()
        with server.client() as http:
            for tid in (task_id, queued_behind):
                body = wait_terminal(http, tid)
                assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
        assert task_row(server, task_id).attempts == (2 if how == "server-kill-9" else 1)
    finally:
        server.stop()


def test_worker_killed_mid_task_is_replaced_and_the_task_finishes(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", **SLOW).start()
    try:
        with server.client() as http:
            task_id = http.post(CREATE, json=BODY).json()["task_id"]
            worker = worker_running(server, task_id, attempt=1)
            assert worker in children(server.proc.pid)
            os.kill(worker, signal.SIGKILL)
            body = wait_terminal(http, task_id, timeout=120)
            assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
            (new_worker,) = children(server.proc.pid)
            assert new_worker != worker
            assert task_row(server, task_id).attempts == 2
    finally:
        server.stop()


def test_a_task_that_keeps_killing_its_worker_ends_failed_with_a_reason(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", SHOTLINE_MAX_ATTEMPTS="2", **SLOW).start()
    try:
        with server.client() as http:
            task_id = http.post(CREATE, json=BODY).json()["task_id"]
            for attempt in (1, 2):
                worker = worker_running(server, task_id, attempt)
                os.kill(worker, signal.SIGKILL)
                wait_gone(worker)
            body = wait_terminal(http, task_id, timeout=120)
            assert body["task"]["status"] == "TASK_STATUS_FAILED"
            assert "2 times" in body["task"]["reason"] and "Traceback" not in body["task"]["reason"]
            # The server is still serving: the next task succeeds.
            nxt = http.post(CREATE, json={**BODY, "duration": 3}).json()["task_id"]
            assert wait_terminal(http, nxt)["task"]["status"] == "TASK_STATUS_SUCCEED"
    finally:
        server.stop()


def test_worker_killed_after_shot_two_of_four_resumes_with_shots_three_and_four(tmp_path: Path) -> None:
    """The engines issue's resume rule with real processes: the worker process dies (os._exit, like kill -9)
    right after shot 2 of 4 is checkpointed; the server starts a new worker, which generates only shots 3 and 4."""
    four_shots = {"multi_prompt": [{"prompt": f"shot {i}"} for i in range(1, 5)], "duration": 4,
                  "aspect_ratio": "1:1", "sound": True}
    server = LiveServer(tmp_path / "data", SHOTLINE_FAILPOINTS="after_shot_2=exit").start()
    try:
        with server.client() as http:
            task_id = http.post(CREATE, json=four_shots).json()["task_id"]
            body = wait_terminal(http, task_id)
        assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
        log = server.log.read_text()
        generated = re.findall(rf"task {task_id}: shot (\d) of 4 generated", log)
        assert generated == ["1", "2", "3", "4"], generated  # 1 and 2 before the crash, 3 and 4 after, none twice
        assert f"task {task_id}: resumed 2 of 4 shots from checkpoints" in log
        assert "worker process exited with code 137" in log
        assert task_row(server, task_id).attempts == 2
        with av.open(str(tmp_path / "data" / "results" / f"{task_id}.mp4")) as container:
            assert sum(1 for _ in container.decode(video=0)) == 4 * 24
    finally:
        server.stop()
