"""Every non-2xx answer in the contract's one shape (§5), whatever raised it."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shotline.errors import (
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
    ShotlineError,
)
from shotline.schemas import CreateTaskRequest
from shotline.validation import invalid_request

log = logging.getLogger("shotline.api")


def error_response(err: ShotlineError) -> JSONResponse:
    return JSONResponse(err.to_body(), status_code=err.status_code, headers=err.headers or None)


def install(app: FastAPI) -> None:
    @app.exception_handler(ShotlineError)
    async def _shotline(_request: Request, err: ShotlineError) -> JSONResponse:
        return error_response(err)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, err: RequestValidationError) -> JSONResponse:
        return error_response(invalid_request(err.errors(), CreateTaskRequest))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        if err.status_code == 404:
            return error_response(NotFound(f"no route {request.url.path}"))
        if err.status_code == 405:
            allowed = (err.headers or {}).get("Allow", "")
            return error_response(
                MethodNotAllowed(f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})",
                                 headers={"Allow": allowed} if allowed else None)
            )
        if err.status_code == 400:  # the framework could not parse the body (e.g. a number over 4300 digits)
            return error_response(InvalidRequest(f"body: {err.detail}", field="body"))
        generic = ShotlineError(str(err.detail))
        generic.status_code = err.status_code  # type: ignore[misc]
        return error_response(generic)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, err: Exception) -> JSONResponse:
        # The database restarting or unreachable is not a bug: say so, and when to come back.
        log.warning("database unavailable on %s %s: %s", request.method, _loggable(request.url.path),
                    type(err).__name__)
        return error_response(ServiceUnavailable("the database is unreachable right now; retry in a few seconds",
                                                 headers={"Retry-After": "5"}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", incident, request.method, _loggable(request.url.path))
        return error_response(InternalError(f"internal error (incident {incident}); this is a bug, please report it",
                                            metadata={"incident": incident}))


def _loggable(text: str, limit: int = 200) -> str:
    """A client-sent string as it may enter a log line: escaped (a decoded `%0A` cannot forge a line)
    and cut short."""
    return ascii(text[:limit])[1:-1]
