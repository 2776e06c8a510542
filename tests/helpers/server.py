"""A real `shotline serve` process (and `shotline worker` processes) for end-to-end tests, and the
constants every test shares: the two test keys, the Kling paths, the terminal statuses (from
shotline.status, never a copy)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from shotline.status import TERMINAL as TERMINAL_STATUSES
from tests.helpers.services import free_port

KEY_A, KEY_B = "test-key-a", "test-key-b"
AUTH_A = {"Authorization": f"Bearer {KEY_A}"}
AUTH_B = {"Authorization": f"Bearer {KEY_B}"}
CREATE = "/v3/async/kling-v3.0-pro-t2v"
RESULT = "/v3/async/task-result"
TERMINAL = {s.value for s in TERMINAL_STATUSES}
QUICK = {"prompt": "a quick clip", "duration": 3, "aspect_ratio": "1:1"}  # the shortest real generation


class LiveServer:
    """`python -m shotline serve` in its own process group: with the embedded queue, its worker is its
    child; with `overrides` for the scale-out backend, `workers` separate `shotline worker` processes."""

    def __init__(self, data_dir: Path, overrides: dict[str, str] | None = None, workers: int = 1, **env: str) -> None:
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
            **{f"SHOTLINE_{k.upper()}": str(v) for k, v in (overrides or {}).items()},
            **env,
        }
        self.scale = self.env.get("SHOTLINE_QUEUE") == "celery"
        self.worker_count = workers if self.scale else 0
        self.workers: list[subprocess.Popen[bytes]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    def start_worker(self) -> subprocess.Popen[bytes]:
        """One more `shotline worker` process (scale-out backend), logging to its own file."""
        log = self.data_dir.parent / f"worker-{self.port}-{len(self.workers)}.log"
        proc = subprocess.Popen([sys.executable, "-m", "shotline", "worker"], env=self.env,
                                stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log  # type: ignore[attr-defined]
        self.workers.append(proc)
        return proc

    def ensure_workers(self) -> None:
        """Replace workers that have exited (after a test killed one)."""
        alive = [w for w in self.workers if w.poll() is None]
        for _ in range(self.worker_count - len(alive)):
            self.start_worker()

    def worker_logs(self) -> str:
        return "".join(p.log_path.read_text() for p in self.workers)  # type: ignore[attr-defined]

    def start(self, wait_ready: bool = True) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shotline", "serve"], env=self.env, stdout=self._log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        while len([w for w in self.workers if w.poll() is None]) < self.worker_count:
            self.start_worker()
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
        log = self.log.read_text()[-3000:]
        self.stop()  # a server that never became ready must not outlive the test that started it
        raise RuntimeError(f"server not ready in 90 s:\n{log}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server process only (its worker child must notice on its own)."""
        assert self.proc is not None
        os.kill(self.proc.pid, sig)
        self.proc.wait(30)

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
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


def store_of(server: LiveServer):
    from shotline.db import TaskStore, make_db

    url = server.env.get("SHOTLINE_DATABASE_URL") or f"sqlite:///{server.data_dir / 'shotline.db'}"
    return TaskStore(make_db(url))


def ended_counts(logs: str) -> Counter:
    return Counter(re.findall(r"task ([0-9a-f-]{36}) ended TASK_STATUS_SUCCEED", logs))


def settled_ended_counts(server: LiveServer, ids: list[str], timeout: float = 15) -> Counter:
    """The workers' "ended" log lines once each succeeded task has one: a worker writes the status first and
    logs right after, so a test that saw SUCCEED through the API can read the log a moment too early."""
    deadline = time.monotonic() + timeout
    while True:
        counts = ended_counts(server.worker_logs())
        if all(counts[i] for i in ids) or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)
