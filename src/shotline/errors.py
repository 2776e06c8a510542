"""One error hierarchy for the server, the worker and the SDK.

Every refusal a client sees is a `ShotlineError`: it knows its HTTP status, the contract's `reason`
word, a message a person can act on, and (for bad input) the field at fault. The API turns it into the
contract's error body; the SDK turns that body back into the same class. This module imports nothing
heavy so that the SDK can use it without the server.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ShotlineError(Exception):
    """Base of every error that reaches a client in the contract's shape."""

    status_code: ClassVar[int] = 500
    reason: ClassVar[str] = "INTERNAL_ERROR"

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

    def to_body(self) -> dict[str, Any]:
        return {
            "code": self.status_code,
            "reason": self.reason,
            "message": self.message,
            "metadata": self.metadata,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, field={self.field!r})"


class InvalidRequest(ShotlineError):
    status_code = 400
    reason = "INVALID_REQUEST_BODY"


class Unauthorized(ShotlineError):
    status_code = 401
    reason = "UNAUTHORIZED"


class Forbidden(ShotlineError):
    """A signed URL that was tampered with or has expired (the contract's reasons have no separate word)."""

    status_code = 403
    reason = "UNAUTHORIZED"


class NotFound(ShotlineError):
    status_code = 404
    reason = "NOT_FOUND"


class MethodNotAllowed(ShotlineError):
    status_code = 405
    reason = "NOT_FOUND"


class Conflict(ShotlineError):
    status_code = 409
    reason = "CONFLICT"


class PayloadTooLarge(ShotlineError):
    status_code = 413
    reason = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ShotlineError):
    status_code = 415
    reason = "UNSUPPORTED_MEDIA_TYPE"


class RateLimited(ShotlineError):
    """Over the key's rate or queue quota; `retry_after` says how long to wait."""

    status_code = 429
    reason = "RATE_LIMITED"


class InternalError(ShotlineError):
    status_code = 500
    reason = "INTERNAL_ERROR"


class ServiceUnavailable(ShotlineError):
    status_code = 503
    reason = "SERVICE_UNAVAILABLE"


class ConnectionFailed(ServiceUnavailable):
    """The SDK could not reach the server at all (refused, reset, timed out), after its retries. A kind of
    ServiceUnavailable, so `except ServiceUnavailable` covers "the server is down" either way; the httpx
    error is its `__cause__`."""


_BY_STATUS: dict[int, type[ShotlineError]] = {
    cls.status_code: cls
    for cls in (
        InvalidRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
        InternalError,
        ServiceUnavailable,
    )
}


def error_from_body(status_code: int, body: Any, headers: dict[str, str] | None = None) -> ShotlineError:
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


# Failures inside generation. They never reach a client as exceptions: the worker turns them into the
# task's FAILED reason (a sentence) or its CANCELED status.


class GenerationError(Exception):
    """Generation failed in a way the user can act on; `str(err)` is the task's reason."""


class OutOfMemory(GenerationError):
    pass


class GenerationStopped(Exception):
    """Raised from the step callback to stop a running generation at a step boundary."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why  # "canceled" or "shutdown"
