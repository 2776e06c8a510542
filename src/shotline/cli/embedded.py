"""An embedded server for `shotline generate` without --base-url: the real app on a free loopback port,
in a thread, with a one-off API key; its logs go to a file, not into the progress bar."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from shotline.config import Settings


class EmbeddedServer:
    def __init__(self, settings: Settings, log_path: Path | None = None) -> None:
        import uvicorn

        from shotline.api.app import create_app

        self.api_key = "sk-embedded-" + secrets.token_urlsafe(24)
        self.log_path = log_path
        self.data_dir = settings.data_dir
        settings = settings.model_copy(update={"api_keys": [*settings.api_keys, self.api_key]})
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(settings), log_config=None, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> EmbeddedServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if not self._thread.is_alive():
                break
            time.sleep(0.05)
        from shotline.errors import ServiceUnavailable

        where = f" (log: {self.log_path})" if self.log_path else ""
        raise ServiceUnavailable(f"the embedded server did not start{where}")

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        self._sock.close()


@contextlib.contextmanager
def logs_to_file(path: Path, level: str) -> Iterator[Path]:
    """Everything written to file descriptor 2 while the embedded server runs (its log records, the worker
    child's, which inherits the descriptor, warnings from native code) goes to `path`; the command's own
    output (the bar, its messages) keeps the terminal through a duplicate of the original stderr.

    Redirecting the descriptor, not just `sys.stderr`, is what catches the child process and C libraries."""
    from shotline.logs import setup_logging

    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # this run's log only
    os.dup2(log_fd, 2)
    os.close(log_fd)
    saved_stderr = sys.stderr
    sys.stderr = os.fdopen(terminal_fd, "w", buffering=1, encoding=getattr(saved_stderr, "encoding", None) or "utf-8",
                           errors="backslashreplace", closefd=False)
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    log_stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (closed below)
    setup_logging(level, "json", stream=log_stream)
    logging.captureWarnings(True)
    try:
        yield path
    finally:
        logging.captureWarnings(False)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        log_stream.close()
        sys.stderr.flush()
        os.dup2(terminal_fd, 2)
        os.close(terminal_fd)
        sys.stderr = saved_stderr
