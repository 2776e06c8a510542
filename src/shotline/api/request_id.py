"""A request id for every HTTP request: the caller's `X-Request-Id` when it is a sane token, else a new
one. It is echoed in the response, carried by every log record made while the request is handled (see
shotline/logs.py), stored with a task the request creates, and logged again by the worker that runs it.
Pure ASGI (not BaseHTTPMiddleware), outermost, so even answers made by other middleware carry it."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders

from shotline.logs import reset_request_id, set_request_id

log = logging.getLogger("shotline.api.access")

# Fits tasks.request_id (64) and cannot smuggle anything into a log line or a header.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
HEADER = "X-Request-Id"


def request_id_from(scope: dict[str, Any]) -> str:
    for name, value in scope["headers"]:
        if name.lower() == b"x-request-id":
            incoming = value.decode("latin-1").strip()
            if SANE_REQUEST_ID.match(incoming):
                return incoming
            break
    return uuid.uuid4().hex


class RequestId:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = set_request_id(request_id)
        status, t0 = 500, time.perf_counter()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # The access log line (uvicorn's own is off): the path, never the query string or headers.
            elapsed_ms = round((time.perf_counter() - t0) * 1000, 1)
            log.info("%s %s %s %.1f ms", scope["method"], scope["path"], status, elapsed_ms,
                     extra={"method": scope["method"], "path": scope["path"], "status": status,
                            "duration_ms": elapsed_ms})
            reset_request_id(token)
