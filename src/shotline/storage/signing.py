"""Signed, expiring URLs: HMAC-SHA256 over (task id, expiry) with the server's secret.

The stdlib's hmac is the whole job here (a library would add nothing), and `compare_digest` keeps the
check constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

from shotline.errors import Forbidden


def signature(secret: bytes, task_id: str, expires: int) -> str:
    msg = f"shotline-video:{task_id}:{expires}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def sign(secret: bytes, task_id: str, ttl_s: int, now: float | None = None) -> tuple[int, str]:
    expires = int((now if now is not None else time.time()) + ttl_s)
    return expires, signature(secret, task_id, expires)


def verify(secret: bytes, task_id: str, expires: int, sig: str, now: float | None = None) -> str | None:
    """None when valid, else why not ("expired" or "invalid")."""
    expected = signature(secret, task_id, expires)
    # Bytes, not str: compare_digest refuses str with non-ASCII characters (a TypeError, i.e. a 500).
    if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "backslashreplace")):
        return "invalid"
    if (now if now is not None else time.time()) > expires:
        return "expired"
    return None


class UrlSigner:
    """Builds and checks the `video_url`s the API hands out (the same for every storage backend)."""

    def __init__(self, secret: Callable[[], bytes], ttl_s: int, public_url: str = "") -> None:
        self._source, self._secret = secret, b""
        self.ttl_s, self.public_url = ttl_s, public_url

    @property
    def secret(self) -> bytes:
        if not self._secret:
            self._secret = self._source()
        return self._secret

    def url(self, task_id: str, base_url: str) -> str:
        expires, sig = sign(self.secret, task_id, self.ttl_s)
        base = (self.public_url or base_url).rstrip("/")
        return f"{base}/v3/files/{task_id}/video.mp4?" + urlencode({"expires": expires, "signature": sig})

    def check(self, task_id: str, expires: str | None, sig: str | None) -> int:
        """Seconds the link has left; a Forbidden (403) if it was altered or has expired."""
        if not expires or not sig or not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
            raise Forbidden("signature: this video link is not signed; ask the task result for a fresh video_url",
                            field="signature")
        why = verify(self.secret, task_id, int(expires), sig)
        if why == "expired":
            raise Forbidden("expires: this video link has expired; ask the task result for a fresh video_url",
                            field="expires")
        if why is not None:
            raise Forbidden("signature: this video link's signature is not valid", field="signature")
        return max(1, int(expires) - int(time.time()))
