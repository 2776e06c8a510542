"""The error answers of every operation, declared in `/openapi.json` from the operation's shape.

Routes declare what is particular to them (a 409 on cancel, a 403 on a signed link); what follows from
the shape of an operation is added here for every route, including routes added later, so the document
never omits an answer the middleware, the auth dependency or the error handlers can give:

- any parameter or body: 400 (validation, in the contract's shape, never FastAPI's 422)
- an `Authorization` header: 401; it also reads the database, so 503 when that is down
- a path parameter or a `task_id`: 404
- a request body: 408, 413 (BodyLimits: too slow, too large) and 415 (Content-Type)
- every operation: 405 for a method the path does not have, in the same shape

The fuzzing suite (tests/api/test_fuzz.py) holds the document to this: an undeclared status fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
DESCRIPTIONS = {
    "400": "Invalid request; `metadata.field` names the field",
    "401": "Missing or unknown API key",
    "404": "No such task for this key (the same answer for another key's task)",
    "405": "Method not allowed on this path",
    "408": "The body did not arrive within the server's deadline",
    "413": "Body over the size limit",
    "415": "Content-Type is not application/json",
    "503": "The database is unreachable right now; retry after `Retry-After` seconds",
}


def _statuses(operation: dict[str, Any]) -> list[str]:
    params = operation.get("parameters", [])
    names = {(p.get("in"), str(p.get("name", "")).lower()) for p in params}
    out = ["405"]
    if params or "requestBody" in operation:
        out.append("400")
    if ("header", "authorization") in names:
        out += ["401", "503"]
    if any(where == "path" for where, _ in names) or ("query", "task_id") in names:
        out.append("404")
    if "requestBody" in operation:
        out += ["408", "413", "415"]
    return out


def declare_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the ErrorBody answers each operation can give (those it already declares are kept)."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in _statuses(operation):
                responses.setdefault(status, {"description": DESCRIPTIONS[status], "content": ERROR_REF})
    return schema


def document_errors(app: FastAPI) -> None:
    """Wrap the app's OpenAPI builder so the document it serves declares every error answer."""
    build: Callable[[], dict[str, Any]] = app.openapi
    done: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if "schema" not in done:
            done["schema"] = declare_errors(build())
        return done["schema"]

    app.openapi = openapi  # type: ignore[method-assign]
