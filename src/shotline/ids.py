"""Task ids: made by the store (uuid4), checked wherever one arrives from outside, in one shape.

The API checks an id before any query (a malformed id is the same 404 as a missing one), and storage checks
it before it becomes part of a path (nothing a client sends is ever joined into a path).
"""

from __future__ import annotations

import re
import uuid

TASK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_task_id() -> str:
    return str(uuid.uuid4())


def is_task_id(text: str | None) -> bool:
    return bool(text) and TASK_ID.match(text) is not None  # type: ignore[arg-type]
