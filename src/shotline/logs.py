"""Logging set-up shared by the server and the worker processes.

Every record carries the id of the HTTP request it belongs to (and the task, where there is one), taken
from context variables: the API's request-id middleware sets `request_id` for the request (FastAPI's thread
pool copies it into the threads that run handlers); the worker sets both while it runs a task, from the
task row (`tasks.request_id`), so one grep for an id finds the request and the generation it caused.

What may not reach the logs at INFO and above: API keys and prompt text. Shotline's own code never logs
them except at DEBUG; libraries that echo prompts (tokenizers warning that a prompt was truncated) are
quietened to ERROR unless the level is DEBUG.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("shotline_request_id", default=None)
_task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("shotline_task_id", default=None)

# Loggers of libraries that put prompt text into warnings (e.g. "the following part of your input was
# truncated …"); they speak only at ERROR unless logging is at DEBUG.
PROMPT_ECHOING = ("transformers", "diffusers", "sentencepiece")


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(request_id: str | None) -> contextvars.Token:
    return _request_id.set(request_id)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


@contextmanager
def task_context(task_id: str, request_id: str | None) -> Iterator[None]:
    """Log records made inside carry this task's id and the id of the request that created it."""
    tokens = (_task_id.set(task_id), _request_id.set(request_id))
    try:
        yield
    finally:
        _task_id.reset(tokens[0])
        _request_id.reset(tokens[1])


class ContextIds(logging.Filter):
    """Adds `request_id` and `task_id` (None where unknown) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or _request_id.get()
        record.task_id = getattr(record, "task_id", None) or _task_id.get()
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{name}={value}" for name in ("request_id", "task_id")
                       if (value := getattr(record, name, None)))
        line = super().format(record)
        return f"{line} [{ids}]" if ids else line


def resolve_format(fmt: str, stream: IO[str] | None = None) -> str:
    """`auto`: text for a person at a terminal, JSON lines for everything that collects logs."""
    if fmt != "auto":
        return fmt
    stream = stream if stream is not None else sys.stderr
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def make_formatter(fmt: str) -> logging.Formatter:
    if fmt == "text":
        return TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d %(request_id)s %(task_id)s",
        rename_fields={"asctime": "ts", "levelname": "level", "name": "logger", "process": "pid"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        json_ensure_ascii=False,
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's copy of each message with ANSI colours
    )


def setup_logging(level: str = "INFO", fmt: str = "json", stream: IO[str] | None = None) -> None:
    """Every record to `stream` (stderr by default) in `fmt` (json, text, or auto: text on a terminal)."""
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(resolve_format(fmt, stream)))
    handler.addFilter(ContextIds())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic narrates every plugin it sets up on each start; only its warnings matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if root.level > logging.DEBUG:
        # The libraries set their own level when first imported (later, in the worker), from these.
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
        for name in PROMPT_ECHOING:
            logging.getLogger(name).setLevel(logging.ERROR)
