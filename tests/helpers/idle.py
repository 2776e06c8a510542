"""Servers the SDK and CLI tests talk to: a live server with no worker (tasks stay QUEUED, so cancel, lists
and quotas are deterministic), and a TCP proxy on loopback that can lose an answer on its way back."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from tests.helpers.server import KEY_A, KEY_B, LiveServer

IDLE_QUOTA = 1  # SHOTLINE_MAX_QUEUED_PER_KEY on the idle server: a second queued task is a 429


def start_idle_server(data_dir: Path) -> LiveServer:
    # No worker, so nothing is ever ready to generate: wait for /healthz, not /readyz.
    return LiveServer(data_dir, SHOTLINE_EMBEDDED_WORKER="false",
                      SHOTLINE_MAX_QUEUED_PER_KEY=str(IDLE_QUOTA)).start(wait_ready=False)


def cancel_everything(server: LiveServer) -> None:
    """Leave the idle server with no queued task for either key, whatever a test left behind."""
    from shotline.client import Shotline

    for key in (KEY_A, KEY_B):
        with Shotline(server.base_url, key) as client:
            for task in client.videos.list(status="TASK_STATUS_QUEUED", limit=100):
                client.videos.cancel(task.task.task_id)


class LossyProxy:
    """Forwards TCP connections from its own loopback port to `upstream_port`. The first `drop_answers`
    connections carry the request through but are cut as soon as the server starts answering: the server
    has done the work, the client never hears of it (a lost response, the case idempotency is for)."""

    def __init__(self, upstream_port: int, *, port: int = 0, drop_answers: int = 0) -> None:
        self.upstream_port, self.drop_answers = upstream_port, drop_answers
        self.connections = 0
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            drop = self.connections <= self.drop_answers
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._open += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            if drop:
                threading.Thread(target=self._cut_at_answer, args=(client, upstream), daemon=True).start()
            else:
                threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _cut_at_answer(client: socket.socket, upstream: socket.socket) -> None:
        upstream.recv(1)  # the server has committed and begun its answer
        for s in (client, upstream):
            _close(s)

    def close(self) -> None:
        _close(self._listener)
        for s in self._open:
            _close(s)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        _close(s)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
