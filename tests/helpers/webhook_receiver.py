"""A real HTTP server on 127.0.0.1 that receives webhooks and records them, for the webhook tests.

Its answer depends on the path: `/ok` answers 200; `/flaky` answers 500 to its first request and 200
after; `/down` answers 500 always; `/gate` answers 503 until the test opens the gate; `/hold` keeps its
first request waiting until the test releases it, then answers 200.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.gate_open = threading.Event()
        self.release = threading.Event()
        self.holding = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base_url + path

    def _answer(self, path: str) -> int:
        with self._lock:
            seen = sum(1 for r in self.received if r.path == path)
        if path == "/flaky":
            return 500 if seen == 0 else 200
        if path == "/down":
            return 500
        if path == "/gate":
            return 200 if self.gate_open.is_set() else 503
        if path == "/hold" and seen == 0:
            self.holding.set()
            self.release.wait(120)
        return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code = receiver._answer(self.path)
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def on(self, path: str, *, ok_only: bool = False) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path and (not ok_only or r.answered == 200)]

    def wait_for(self, path: str, count: int, *, ok_only: bool = False, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.on(path, ok_only=ok_only)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{path}: {count} {'2xx ' if ok_only else ''}webhooks expected in {timeout} s, "
                             f"got {[(r.answered, r.body[:80]) for r in self.on(path)]}")

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
