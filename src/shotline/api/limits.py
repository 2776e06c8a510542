"""Body checks before routing: a wrong Content-Type is a 415, a body over the limit a 413 (without
reading more than the limit), a body that does not arrive in time a 408, and JSON that is not UTF-8 or
nests deeper than `max_depth` a 400 naming `body`. Pure ASGI (not BaseHTTPMiddleware) so it can stop a
large or slow upload early.

What protects the server from slow or abusive clients: this body deadline (a slow body never reaches
the thread pool, and holds only a coroutine until it expires), uvicorn's `timeout_keep_alive` (idle
connections close after SHOTLINE_KEEP_ALIVE_S, 30 s), h11's cap on incomplete headers (16 KiB), and the size and depth caps
here. Slow *headers* are not timed by uvicorn: deployments facing the internet put a proxy in front
(docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shotline.api.errors import error_bytes
from shotline.errors import APIError, InvalidRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from shotline.protocol.openai import FORM_TYPES, OPENAI_PREFIX

Scope = dict[str, Any]


def json_depth(body: bytes) -> int:
    """How deeply `body`'s arrays and objects nest, brackets inside strings not counted. The stdlib parser
    has no depth limit (a deep body costs recursion and, past about 1000 levels, fails in a way that
    names nothing), hence this count: one linear pass (a regex for strings backtracks quadratically on
    unterminated ones)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


class BodyLimits:
    def __init__(self, app: Any, max_bytes: int, prefixes: tuple[str, ...] = ("/v3/", OPENAI_PREFIX),
                 form_prefixes: tuple[str, ...] = (OPENAI_PREFIX,), *, max_depth: int = 32, timeout_s: float = 30.0) -> None:
        self.app, self.max_bytes, self.prefixes, self.form_prefixes = app, max_bytes, prefixes, form_prefixes
        self.max_depth, self.timeout_s = max_depth, timeout_s

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT", "PATCH")
            or not scope["path"].startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _refuse(scope, send, PayloadTooLarge(self._too_large(), field="body"))
            return
        body, more = b"", True
        deadline = time.monotonic() + self.timeout_s
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                await _refuse(scope, send, RequestTimeout(
                    f"body: did not arrive within {self.timeout_s:g} s; send the whole body at once", field="body"))
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await _refuse(scope, send, PayloadTooLarge(self._too_large(), field="body"))
                return
        # A cancel has no body; anything with a body must say it is JSON (or, on the OpenAI API, whose
        # official client posts forms, a form).
        if body or "content-type" in headers:
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            allowed = ("application/json", *FORM_TYPES) if scope["path"].startswith(self.form_prefixes) \
                else ("application/json",)
            if media not in allowed:
                await _refuse(
                    scope, send,
                    UnsupportedMediaType(
                        f"Content-Type: must be {' or '.join(allowed)}, got {media or 'none'}", field="Content-Type"
                    ),
                )
                return
        is_json = headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"
        refusal = self._check_json(body) if is_json else None
        if refusal is not None:
            await _refuse(scope, send, refusal)
            return

        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _check_json(self, body: bytes) -> APIError | None:
        if not body:
            return None
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as err:
            return InvalidRequest(f"body: is not valid UTF-8 (byte {err.start}); JSON must be UTF-8", field="body")
        if json_depth(body) > self.max_depth:
            return InvalidRequest(f"body: nests arrays and objects deeper than {self.max_depth} levels", field="body")
        return None

    def _too_large(self) -> str:
        return f"body: must be at most {self.max_bytes} bytes"


async def _refuse(scope: Scope, send: Any, err: APIError) -> None:
    payload = error_bytes(scope["path"], err)
    await send({
        "type": "http.response.start",
        "status": err.status_code,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
    })
    await send({"type": "http.response.body", "body": payload})
