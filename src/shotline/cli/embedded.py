"""An embedded server for `shotline generate` without --base-url: the real app on a free loopback port,
in a thread, with a one-off API key."""

from __future__ import annotations

import secrets
import socket
import threading
import time

import httpx

from shotline.config import Settings


class EmbeddedServer:
    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from shotline.api.app import create_app

        self.api_key = "sk-embedded-" + secrets.token_urlsafe(24)
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
        raise RuntimeError("the embedded server did not start")

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        self._sock.close()
