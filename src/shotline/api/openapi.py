"""The error answers of every operation, declared in `/openapi.json`: the one source of error docs.

Routes name only what is particular to them (`errors(409, 429)`: a 409 on cancel, a 429 on create, a 403
on a signed link), with a description where the default one would not say enough. What follows from the
shape of an operation is added here for every route, including routes added later, so the document never
omits an answer the middleware, the auth dependency or the error handlers can give:

- any parameter or body: 400 (validation, in the error shape, never FastAPI's 422)
- an `Authorization` header: 401, 429 (the per-key request rate) and, as it reads the database, 503
- a path parameter or a `task_id`: 404
- a request body: 408, 413 (BodyLimits: too slow, too large) and 415 (Content-Type)
- every operation: 405 for a method the path does not have, in the same shape

Each answer's schema is the error shape of the API the path belongs to (api/errors.py): `ErrorBody`, or
`OpenAIErrorBody` under `/v1/`. The fuzzing suite (tests/api/test_fuzz.py) holds the document to this: an
undeclared status, or a body of another shape, fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from shotline.protocol.kling import ErrorBody
from shotline.protocol.openai import OPENAI_PREFIX, OpenAIErrorBody

DESCRIPTIONS = {
    "400": "Invalid request; the error names the field",
    "401": "Missing or unknown API key",
    "403": "The link was altered or has expired",
    "404": "No such task for this key (the same answer for another key's task)",
    "405": "Method not allowed on this path",
    "408": "The body did not arrive within the server's deadline",
    "409": "Conflict with the task's state, or an Idempotency-Key reused with a different body",
    "413": "Body over the size limit",
    "415": "Content-Type is not application/json",
    "416": "The Range starts past the end of the video",
    "429": "Over the key's rate or queue quota; retry after `Retry-After` seconds",
    "503": "The database is unreachable right now; retry after `Retry-After` seconds",
}
_MODELS = (ErrorBody, OpenAIErrorBody)


def errors(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route for the error statuses particular to it; `descriptions` (keyed by the
    status as a string) replace the default wording. The schema is filled in by `declare_errors`."""
    return {status: {"description": descriptions.get(str(status), DESCRIPTIONS[str(status)])} for status in statuses}


def _statuses(operation: dict[str, Any]) -> list[str]:
    params = operation.get("parameters", [])
    names = {(p.get("in"), str(p.get("name", "")).lower()) for p in params}
    out = ["405"]
    if params or "requestBody" in operation:
        out.append("400")
    if ("header", "authorization") in names:
        out += ["401", "429", "503"]
    if any(where == "path" for where, _ in names) or ("query", "task_id") in names:
        out.append("404")
    if "requestBody" in operation:
        out += ["408", "413", "415"]
    return out


def declare_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every operation the error answers it can give, each with its API's error schema (those a route
    declared keep their description); FastAPI's 422 is replaced by the 400 Shotline answers instead."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in _MODELS:
        for name, sub in model.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items():
            components.setdefault(name, sub)
        components[model.__name__] = {k: v for k, v in
                                      model.model_json_schema(ref_template="#/components/schemas/{model}").items()
                                      if k != "$defs"}
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, item in schema.get("paths", {}).items():
        model = OpenAIErrorBody if path.startswith(OPENAI_PREFIX) else ErrorBody
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.pop("422", None)
            for status in _statuses(operation):
                responses.setdefault(status, {"description": DESCRIPTIONS[status]})
            for status, answer in responses.items():
                if str(status)[0] in "45":
                    answer["content"] = content
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
