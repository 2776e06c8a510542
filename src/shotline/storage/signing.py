"""Signed, expiring URLs: HMAC-SHA256 over (task id, expiry) with the server's secret.

The stdlib's hmac is the whole job here (a library would add nothing), and `compare_digest` keeps the
check constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def signature(secret: bytes, task_id: str, expires: int) -> str:
    msg = f"shotline-video:{task_id}:{expires}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def sign(secret: bytes, task_id: str, ttl_s: int, now: float | None = None) -> tuple[int, str]:
    expires = int((now if now is not None else time.time()) + ttl_s)
    return expires, signature(secret, task_id, expires)


def verify(secret: bytes, task_id: str, expires: int, sig: str, now: float | None = None) -> str | None:
    """None when valid, else why not ("expired" or "invalid")."""
    expected = signature(secret, task_id, expires)
    if not hmac.compare_digest(expected, sig):
        return "invalid"
    if (now if now is not None else time.time()) > expires:
        return "expired"
    return None
