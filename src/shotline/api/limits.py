"""Body checks before routing: a wrong Content-Type is a 415 and a body over the limit a 413, without
reading more than the limit. Pure ASGI (not BaseHTTPMiddleware) so it can stop a large upload early."""

from __future__ import annotations

import json
from typing import Any

from shotline.errors import PayloadTooLarge, ShotlineError, UnsupportedMediaType

Scope = dict[str, Any]
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class BodyLimits:
    def __init__(self, app: Any, max_bytes: int, prefixes: tuple[str, ...] = ("/v3/", "/v1/"),
                 form_prefixes: tuple[str, ...] = ("/v1/",)) -> None:
        self.app, self.max_bytes, self.prefixes, self.form_prefixes = app, max_bytes, prefixes, form_prefixes

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
            await _refuse(send, PayloadTooLarge(self._too_large(), field="body"))
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await _refuse(send, PayloadTooLarge(self._too_large(), field="body"))
                return
        # A cancel has no body; anything with a body must say it is JSON (or, on the OpenAI API, whose
        # official client posts forms, a form).
        if body or "content-type" in headers:
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            allowed = ("application/json", *FORM_TYPES) if scope["path"].startswith(self.form_prefixes) \
                else ("application/json",)
            if media not in allowed:
                await _refuse(
                    send,
                    UnsupportedMediaType(
                        f"Content-Type: must be {' or '.join(allowed)}, got {media or 'none'}", field="Content-Type"
                    ),
                )
                return

        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"body: must be at most {self.max_bytes} bytes"


async def _refuse(send: Any, err: ShotlineError) -> None:
    payload = json.dumps(err.to_body()).encode()
    await send({
        "type": "http.response.start",
        "status": err.status_code,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
    })
    await send({"type": "http.response.body", "body": payload})
