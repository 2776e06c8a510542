"""Pydantic's validation errors, rewritten as the contract's 400: a field path and a sentence that
names the allowed range and what was sent. The API uses it for every request (FastAPI's own 422 body
never reaches a client) and the SDK for its local check, so both say the same words."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Sequence
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from shotline.errors import InvalidRequest

FIELD_ERROR = "shotline_field"


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validator's refusal that names its field: `invalid_request` puts the field in `metadata.field`
    (pydantic's own location would name the model, not the field, for a model-level check)."""
    return PydanticCustomError(FIELD_ERROR, "{message}", {"field": field, "message": message})

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
               type(None): "null"}
_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "an array",
    "model_type": "an object",
    "dict_type": "an object",
    "model_attributes_type": "an object",
}


def field_path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _unwrap(annotation: Any) -> Any:
    """`Shot | None`, `list[Shot] | None`, `Annotated[...]` → the model class inside, if any."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _unwrap(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
    return annotation


def _locate(model: type[BaseModel], loc: Sequence[Any]) -> tuple[type[BaseModel] | None, Any]:
    """(the model the last key of `loc` was sent to, that key's field info or None if unknown)."""
    owner: type[BaseModel] | None = model
    info = None
    names = [p for p in loc if not isinstance(p, int)]
    for n, part in enumerate(names):
        if owner is None:
            return None, None
        info = owner.model_fields.get(str(part))
        if info is None or n == len(names) - 1:
            return owner, info
        inner = _unwrap(info.annotation)
        owner = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return owner, info


def _bounds(info: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in getattr(info, "metadata", []) or []:
        for cls, key, attr in ((Ge, "ge", "ge"), (Gt, "gt", "gt"), (Le, "le", "le"), (Lt, "lt", "lt"),
                               (MinLen, "min_len", "min_length"), (MaxLen, "max_len", "max_length")):
            if isinstance(m, cls):
                out[key] = getattr(m, attr)
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 40 else value[:37] + "...", ensure_ascii=False)
    if isinstance(value, (dict, list)):
        return _JSON_TYPES[type(value)]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"a {len(str(abs(value)))}-digit number"
    return json.dumps(value) if isinstance(value, (int, float, bool, type(None))) else str(value)[:40]


def _message(err: dict[str, Any], info: Any, holder: type[BaseModel] | None) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    # Bounds from the model field; for query parameters (no model here) from the error itself.
    b = _bounds(info) or {k: v for k, v in ctx.items() if k in ("ge", "gt", "le", "lt")}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        allowed = ", ".join(holder.model_fields) if holder else ""
        return f"is not a known field (allowed: {allowed}); check the spelling"
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}, got {_JSON_TYPES.get(type(value), type(value).__name__)}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than", "finite_number"):
        lo, hi = b.get("ge", b.get("gt")), b.get("le", b.get("lt"))
        if lo is not None and hi is not None:
            return f"must be between {lo} and {hi}, got {_show(value)}"
        if lo is not None:
            return f"must be at least {lo}, got {_show(value)}"
        return f"must be at most {hi}, got {_show(value)}"
    if kind in ("string_too_long", "string_too_short"):
        lo, hi = b.get("min_len", 0), b.get("max_len")
        span = f"{lo}–{hi}" if hi is not None else f"at least {lo}"
        return f"must be {span} characters, got {len(value) if isinstance(value, str) else '?'}"
    if kind in ("too_long", "too_short"):
        lo, hi = b.get("min_len", 0), b.get("max_len")
        noun = "shots" if info is not None and getattr(info, "annotation", None) is not None and "Shot" in str(
            info.annotation) else "items"
        return f"must have {lo}–{hi} {noun}, got {len(value) if isinstance(value, list) else '?'}"
    if kind == "literal_error":
        options = ctx.get("expected", "").replace("'", "")
        return f"must be one of {options}, got {_show(value)}"
    if kind == "string_unicode":
        return "must be valid Unicode text (a lone surrogate such as \\ud800 is not)"
    if kind == "string_pattern_mismatch":
        return "must be an http:// or https:// URL"
    return err.get("msg", "is invalid")


def invalid_request(errors: Sequence[dict[str, Any]], model: type[BaseModel]) -> InvalidRequest:
    """Turn pydantic/FastAPI errors into one InvalidRequest naming the first field; all are listed in
    `metadata.errors` so a form can mark every field at once."""
    items = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]
        kind = err.get("type", "")
        if kind == FIELD_ERROR:
            field, text = err["ctx"]["field"], err["ctx"]["message"]
        elif kind == "json_invalid":
            field = "body"
            text = f"is not valid JSON ({(err.get('ctx') or {}).get('error', 'syntax error')})"
        elif not loc and kind in ("model_attributes_type", "model_type", "dict_type"):
            field, text = "body", f"must be a JSON object, got {_JSON_TYPES.get(type(err.get('input')), 'something else')}"
        elif not loc and kind == "missing":
            field, text = "body", "must be a JSON object with the request fields"
        else:
            holder, info = _locate(model, loc)
            field, text = field_path(loc) or "body", _message(err, info, holder)
        items.append({"field": field, "message": f"{field}: {text}"})
    first = items[0] if items else {"field": "body", "message": "body: is invalid"}
    return InvalidRequest(first["message"], field=first["field"], metadata={"errors": items})
