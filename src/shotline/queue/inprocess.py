"""The embedded queue: `shotline serve` runs one worker as a supervised child process.

A child process rather than a thread: generation holds the GIL for long stretches, and a crash in
native code (or the kernel's OOM killer) must not take the API down. The database is the queue (the
worker claims the oldest QUEUED row). The child's stdin is a pipe from the server: the first line
carries the settings (not argv, where other users could read secrets), each later byte wakes the
worker early, and end-of-file means the server is gone, even after a `kill -9`. If the child dies, the
supervisor starts a new one, which requeues the task it left behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

from shotline.config import Settings

log = logging.getLogger("shotline.queue")


class InProcessQueue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.restarts = 0

    def notify(self, task_id: str) -> None:
        """Called after the task row is committed: wake the worker now instead of at its next poll."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.poll() is not None:
                return
            try:
                os.write(proc.stdin.fileno(), b".")
            except (BlockingIOError, BrokenPipeError, OSError):
                pass  # a full pipe already holds a wake-up; a dead child is the supervisor's job

    def start(self) -> None:
        if not self.settings.embedded_worker:
            return
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="shotline-supervisor", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shotline.queue.child"],
            stdin=subprocess.PIPE,
            start_new_session=False,
        )
        assert proc.stdin is not None
        # The worker needs neither the API keys nor the URL-signing secret.
        proc.stdin.write(self.settings.model_dump_json(exclude={"api_keys", "secret_key"}).encode() + b"\n")
        proc.stdin.flush()
        os.set_blocking(proc.stdin.fileno(), False)
        with self._lock:
            self._proc = proc
        log.info("worker process %s started (engine %s)", proc.pid, self.settings.engine)

    def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping.wait(0.5):
            proc = self._proc
            if proc is None or proc.poll() is None:
                continue
            if self._stopping.is_set():
                return
            log.error("worker process exited with code %s; starting a new one in %.0f s", proc.returncode, backoff)
            if self._stopping.wait(backoff):
                return
            self.restarts += 1
            try:
                self._spawn()
            except OSError:
                log.exception("could not start the worker process")
            backoff = min(backoff * 2, 30.0)

    def check(self) -> str:
        if not self.settings.embedded_worker:
            return "ok"
        proc = self._proc
        return "ok" if proc is not None and proc.poll() is None else "the worker process is not running"

    @property
    def worker_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            # SIGTERM: the worker stops at the next step and hands its task back to the queue.
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
