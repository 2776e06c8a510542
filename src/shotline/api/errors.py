"""Every non-2xx answer, whatever raised it, from one mapping and in the shape of the API that was called.

`api_error` is the one place an exception becomes an HTTP error (vLLM keeps one error-response function the
same way): an APIError is already one; the domain errors of the layers below (the engine's input checks,
the store's quota and Idempotency-Key rules, the webhook guard) map to theirs here; the framework's own
refusals (validation, unknown route, wrong method, unparseable body) and a database outage get theirs;
anything else is a bug, logged with an incident id and answered 500.

`error_response` renders it: the Kling API's shape (contract §5) everywhere, and OpenAI's shape
(`{"error": {"message", "type", "param", "code"}}`) under `/v1/`, so the official `openai` client gets
`param` and `code` (api/openai/protocol.py).
"""

from __future__ import annotations

import json
import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shotline.errors import (
    APIError,
    Conflict,
    IdempotencyConflict,
    InputRejected,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    QuotaExceeded,
    RateLimited,
    ServiceUnavailable,
    ShotlineError,
)
from shotline.protocol.kling import CreateTaskRequest
from shotline.protocol.openai import OPENAI_PREFIX, openai_error_body
from shotline.validation import invalid_request

log = logging.getLogger("shotline.api")

# The domain errors of the layers below the API, and the HTTP error each one is.
DOMAIN_ERRORS: dict[type[ShotlineError], type[APIError]] = {
    InputRejected: InvalidRequest,  # UnsafeUrl is one too, once the service has named its field
    IdempotencyConflict: Conflict,
}


def api_error(err: Exception, where: str = "") -> APIError:
    """The HTTP error `err` is (see the module's docstring); a bug becomes a 500, logged with `where`."""
    if isinstance(err, APIError):
        return err
    if isinstance(err, QuotaExceeded):
        wait = err.retry_after_s or 1
        return RateLimited(f"this key has {err.active} tasks queued or running (the limit is {err.limit}); "
                           f"retry after {wait} s, when one has finished", headers={"Retry-After": str(wait)},
                           metadata=err.metadata)
    for domain, http in DOMAIN_ERRORS.items():
        if isinstance(err, domain):
            return http(err.message, field=err.field, metadata=err.metadata, headers=err.headers)  # type: ignore[attr-defined]
    if isinstance(err, (OperationalError, InterfaceError)):
        # The database restarting or unreachable is not a bug: say so, and when to come back.
        return ServiceUnavailable("the database is unreachable right now; retry in a few seconds",
                                  headers={"Retry-After": "5"})
    incident = uuid.uuid4().hex[:12]
    log.error("unhandled error %s%s", incident, where, exc_info=err)
    return InternalError(f"internal error (incident {incident}); this is a bug, please report it",
                         metadata={"incident": incident})


def error_body(path: str, err: APIError) -> dict:
    """The body of an error answer on `path`, in that API's shape."""
    return openai_error_body(err) if path.startswith(OPENAI_PREFIX) else err.to_body()


def error_response(request: Request, err: Exception) -> JSONResponse:
    answer = api_error(err, where=f" on {request.method} {_loggable(request.url.path)}")
    return JSONResponse(error_body(request.url.path, answer), status_code=answer.status_code,
                        headers=answer.headers or None)


def error_bytes(path: str, err: APIError) -> bytes:
    """`error_body` encoded, for middleware that answers below FastAPI (api/limits.py)."""
    return json.dumps(error_body(path, err)).encode()


def _framework_error(request: Request, err: StarletteHTTPException) -> APIError:
    if err.status_code == 404:
        return NotFound(f"no route {request.url.path}")
    if err.status_code == 405:
        allowed = (err.headers or {}).get("Allow", "")
        return MethodNotAllowed(f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})",
                                headers={"Allow": allowed} if allowed else None)
    if err.status_code == 400:  # the framework could not parse the body (e.g. a number over 4300 digits)
        return InvalidRequest(f"body: {err.detail}", field="body")
    generic = APIError(str(err.detail))
    generic.status_code = err.status_code  # type: ignore[misc]
    return generic


def install(app: FastAPI) -> None:
    @app.exception_handler(ShotlineError)
    async def _shotline(request: Request, err: ShotlineError) -> JSONResponse:
        return error_response(request, err)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, err: RequestValidationError) -> JSONResponse:
        return error_response(request, invalid_request(err.errors(), CreateTaskRequest))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return error_response(request, _framework_error(request, err))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, err: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, _loggable(request.url.path),
                    type(err).__name__)
        return error_response(request, err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        return error_response(request, err)


def _loggable(text: str, limit: int = 200) -> str:
    """A client-sent string as it may enter a log line: escaped (a decoded `%0A` cannot forge a line)
    and cut short."""
    return ascii(text[:limit])[1:-1]
