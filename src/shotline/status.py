"""A task's statuses and every rule about them, in one table.

cog keeps one `Status` enum with `is_terminal`; arq keeps its job statuses and their rules in one place.
Here `RULES` is that place: which status may follow which, which are terminal or live, the webhook event
each change announces and the name the OpenAI video API gives it are all read from it. The store's
conditional UPDATEs, the webhook outbox, the OpenAI serving layer, `/openapi.json` (the `x-terminal` list the
playground reads) and the tests derive from it; none keeps its own list.

Imports nothing but the standard library and pydantic's schema hook: the SDK uses it too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class TaskStatus(str, enum.Enum):
    QUEUED = "TASK_STATUS_QUEUED"
    PROCESSING = "TASK_STATUS_PROCESSING"
    SUCCEED = "TASK_STATUS_SUCCEED"
    FAILED = "TASK_STATUS_FAILED"
    CANCELED = "TASK_STATUS_CANCELED"

    @property
    def is_terminal(self) -> bool:
        """Nothing follows a terminal status: it never changes again."""
        return not RULES[self].next

    @property
    def is_live(self) -> bool:
        """Queued or running: counts against a key's queue quota, and a worker may still write the row."""
        return not self.is_terminal

    @property
    def next(self) -> frozenset[TaskStatus]:
        return RULES[self].next

    @property
    def event(self) -> str | None:
        """The webhook event announcing a change into this status (None: a change into it announces nothing)."""
        return RULES[self].event

    @property
    def openai(self) -> str:
        """The status as the OpenAI video API names it."""
        return RULES[self].openai

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        # The OpenAPI document carries the terminal statuses, so the playground reads them instead of
        # keeping a copy of its own.
        schema = handler(core_schema)
        schema = handler.resolve_ref_schema(schema)
        schema["x-terminal"] = [s.value for s in TaskStatus if s.is_terminal]
        return schema


@dataclass(frozen=True)
class Rule:
    next: frozenset[TaskStatus]  # the statuses a task may move to from this one; empty: terminal
    event: str | None  # the webhook event a change into this status sends
    openai: str  # OpenAI's name: queued, in_progress, completed, failed (it has no canceled status)


_S = TaskStatus
RULES: dict[TaskStatus, Rule] = {
    _S.QUEUED: Rule(frozenset({_S.PROCESSING, _S.CANCELED, _S.FAILED}), None, "queued"),
    # PROCESSING -> QUEUED: recovery or a graceful shutdown hands the task back.
    _S.PROCESSING: Rule(frozenset({_S.QUEUED, _S.SUCCEED, _S.FAILED, _S.CANCELED}), "task.processing", "in_progress"),
    _S.SUCCEED: Rule(frozenset(), "task.succeeded", "completed"),
    _S.FAILED: Rule(frozenset(), "task.failed", "failed"),
    _S.CANCELED: Rule(frozenset(), "task.canceled", "failed"),  # error.code `canceled` says which
}

TERMINAL: frozenset[TaskStatus] = frozenset(s for s in TaskStatus if s.is_terminal)
LIVE: frozenset[TaskStatus] = frozenset(s for s in TaskStatus if s.is_live)
EVENTS: dict[TaskStatus, str] = {s: r.event for s, r in RULES.items() if r.event is not None}


def allowed_sources(target: TaskStatus) -> frozenset[TaskStatus]:
    """The statuses a task may be in for a move to `target` to be allowed."""
    return frozenset(s for s in TaskStatus if target in s.next)
