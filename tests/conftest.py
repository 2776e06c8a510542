"""Shared fixtures: settings in a temp data dir, an in-process app without a worker (fast contract
tests), and real `shotline serve` processes with their worker (end-to-end, restarts)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from shotline.config import Settings

KEY_A, KEY_B = "test-key-a", "test-key-b"
AUTH_A = {"Authorization": f"Bearer {KEY_A}"}
AUTH_B = {"Authorization": f"Bearer {KEY_B}"}
CREATE = "/v3/async/kling-v3.0-pro-t2v"
RESULT = "/v3/async/task-result"
TERMINAL = {"TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED", "TASK_STATUS_CANCELED"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", api_keys=[KEY_A, KEY_B], embedded_worker=False, _env_file=None)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app with no worker: tasks stay QUEUED, which is what contract tests want."""
    from shotline.api import create_app

    with TestClient(create_app(settings)) as c:
        yield c


def task_count(c: TestClient) -> int:
    from sqlalchemy import func, select

    from shotline.store.models import Task

    with c.app.state.service.tasks.session() as s:
        return int(s.scalar(select(func.count()).select_from(Task)) or 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`python -m shotline serve` in its own process group, with its worker child."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SHOTLINE_DATA_DIR": str(data_dir),
            "SHOTLINE_API_KEYS": f"{KEY_A},{KEY_B}",
            "SHOTLINE_PORT": str(self.port),
            "SHOTLINE_LEASE_S": "10",
            "SHOTLINE_HEARTBEAT_S": "0.5",
            "SHOTLINE_POLL_S": "0.2",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    def start(self, wait_ready: bool = True) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shotline", "serve"], env=self.env, stdout=self._log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 90
        path = "/readyz" if wait_ready else "/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.base_url + path, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in 90 s:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server process only (its worker child must notice on its own)."""
        assert self.proc is not None
        os.kill(self.proc.pid, sig)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc is not None:
            try:  # no stray worker may outlive a test
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if hasattr(self, "_log_file"):
            self._log_file.close()

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=headers or AUTH_A, timeout=30)


def wait_terminal(http: httpx.Client, task_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    last_progress = -1
    while time.monotonic() < deadline:
        body = http.get(RESULT, params={"task_id": task_id}).json()
        progress = body["task"]["progress_percent"]
        assert progress >= last_progress, f"progress went down: {last_progress} → {progress}"
        last_progress = progress
        if body["task"]["status"] in TERMINAL:
            return body
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} not terminal after {timeout} s: {body}")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("live") / "data").start()
    yield server
    server.stop()
