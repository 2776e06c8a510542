"""Every error Shotline raises on purpose, in one module (as openai-python's `_exceptions.py`).

`ShotlineError` is the one base class: a message a person can act on, and (for bad input) the field at
fault. Below it, three families:

- `APIError`, one class per HTTP status: what a client sees. It knows its status and the contract's
  `reason` word; the API renders it (api/errors.py, the one place that maps errors to HTTP), and the SDK
  turns an error body back into the same class (`error_from_body`).
- Domain errors (`InputRejected`, `IdempotencyConflict`, `QuotaExceeded`, `UnsafeUrl`): raised by the layers
  below the API (store, engines, webhook guard), which know nothing of HTTP; api/errors.py maps each to its
  APIError once.
- Generation failures (`GenerationError` and its kinds): the worker turns them into the task's FAILED
  reason; they never reach a client as exceptions.

Imports nothing heavy, so that the SDK can use it without the server.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ShotlineError(Exception):
    """Base of every error Shotline raises on purpose. Only an `APIError` has an HTTP status."""

    status_code: ClassVar[int | None] = None
    reason: ClassVar[str] = ""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        metadata: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.metadata: dict[str, Any] = dict(metadata or {})
        if field is not None:
            self.metadata.setdefault("field", field)
        self.headers = dict(headers or {})

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked the client to wait (its `Retry-After` header, 429 and 503), or None."""
        value = next((v for k, v in self.headers.items() if k.lower() == "retry-after"), None)
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None  # an HTTP date: rare from servers, and the client's own backoff is a fine stand-in

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, field={self.field!r})"


# ------------------------------------------------------------------------------- what a client sees


class APIError(ShotlineError):
    """An answer in the contract's error shape (§5): one subclass per HTTP status."""

    status_code: ClassVar[int] = 500
    reason: ClassVar[str] = "INTERNAL_ERROR"

    def to_body(self) -> dict[str, Any]:
        return {
            "code": self.status_code,
            "reason": self.reason,
            "message": self.message,
            "metadata": self.metadata,
        }


class InvalidRequest(APIError):
    status_code = 400
    reason = "INVALID_REQUEST_BODY"


class Unauthorized(APIError):
    status_code = 401
    reason = "UNAUTHORIZED"


class Forbidden(APIError):
    """A signed URL that was tampered with or has expired (the contract's reasons have no separate word)."""

    status_code = 403
    reason = "UNAUTHORIZED"


class NotFound(APIError):
    status_code = 404
    reason = "NOT_FOUND"


class MethodNotAllowed(APIError):
    status_code = 405
    reason = "NOT_FOUND"


class RequestTimeout(APIError):
    """The body did not arrive within the server's deadline (api/limits.py)."""

    status_code = 408
    reason = "INVALID_REQUEST_BODY"


class Conflict(APIError):
    status_code = 409
    reason = "CONFLICT"


class PayloadTooLarge(APIError):
    status_code = 413
    reason = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(APIError):
    status_code = 415
    reason = "UNSUPPORTED_MEDIA_TYPE"


class RangeNotSatisfiable(APIError):
    """A `Range` header past the end of the video."""

    status_code = 416
    reason = "INVALID_REQUEST_BODY"


class RateLimited(APIError):
    """Over the key's rate or queue quota; `retry_after` says how long to wait."""

    status_code = 429
    reason = "RATE_LIMITED"


class InternalError(APIError):
    status_code = 500
    reason = "INTERNAL_ERROR"


class ServiceUnavailable(APIError):
    status_code = 503
    reason = "SERVICE_UNAVAILABLE"


class ConnectionFailed(ServiceUnavailable):
    """The SDK could not reach the server at all (refused, reset, timed out), after its retries. A kind of
    ServiceUnavailable, so `except ServiceUnavailable` covers "the server is down" either way; the httpx
    error is its `__cause__`."""


_BY_STATUS: dict[int, type[APIError]] = {
    cls.status_code: cls
    for cls in (
        InvalidRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        RequestTimeout,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        RangeNotSatisfiable,
        RateLimited,
        InternalError,
        ServiceUnavailable,
    )
}


def error_from_body(status_code: int, body: Any, headers: dict[str, str] | None = None) -> APIError:
    """Rebuild the error a server sent (used by the SDK); unknown statuses fall back by class of status."""
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        # 502/504 come from a proxy in front of a server that is down or slow, not from a bug in it.
        cls = InvalidRequest if 400 <= status_code < 500 else ServiceUnavailable if status_code in (502, 504) \
            else InternalError
    if isinstance(body, dict):
        message = str(body.get("message") or f"HTTP {status_code}")
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    else:
        message, metadata = f"HTTP {status_code}: {str(body)[:200]}", {}
    err = cls(message, field=metadata.get("field"), metadata=metadata, headers=headers)
    err.status_code = status_code  # type: ignore[misc]  # keep the real status when it had no own class
    return err


# ----------------------------------------------------------------------------------- domain errors
# Raised below the API, which maps each to its APIError (api/errors.py). They carry the message, the field
# and the metadata the client will see, but no HTTP status.


class InputRejected(ShotlineError):
    """A request this server cannot serve (the engine's input checks, an unsafe webhook URL): a 400."""


class IdempotencyConflict(ShotlineError):
    """An Idempotency-Key reused with another body, or raced by concurrent requests: a 409."""


class QuotaExceeded(ShotlineError):
    """The key already has `limit` tasks queued or running: a 429. `retry_after_s` is the service's guess of
    when one will have finished (the store cannot know it)."""

    def __init__(self, active: int, limit: int, retry_after_s: int | None = None) -> None:
        super().__init__(f"{active} tasks queued or running; the limit is {limit}",
                         metadata={"active": active, "limit": limit})
        self.active, self.limit, self.retry_after_s = active, limit, retry_after_s


class UnsafeUrl(ShotlineError, ValueError):
    """A webhook URL the server may not call (webhooks/guard.py); the message says why, for the client."""


# ----------------------------------------------------------------------------------- generation
# Failures inside generation. They never reach a client as exceptions: the worker turns them into the
# task's FAILED reason (a sentence) or its CANCELED status.


class GenerationError(ShotlineError):
    """Generation failed in a way the user can act on; `str(err)` is the task's reason."""


class OutOfMemory(GenerationError):
    pass


class ModelLoadError(GenerationError):
    """The weights could not be loaded; `str(err)` names the path and the fix. A worker gives it as the reason
    for each task it claims until a later load succeeds."""


class GenerationStopped(Exception):
    """Raised from the step callback to stop a running generation at a step boundary."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why  # "canceled" or "shutdown"
