"""What the CLI's client commands share: the server options, the exit codes, one-line error messages, and
the progress bar that follows a task."""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Iterator
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from shotline.errors import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ShotlineError,
    Unauthorized,
    UnsupportedMediaType,
)

err = Console(stderr=True, highlight=False)


class Exit(enum.IntEnum):
    """Exit codes of the client commands (docs/cli.md)."""

    OK = 0
    TASK_FAILED = 1  # the task failed or was canceled, has no video yet, or had already ended (cancel)
    INVALID = 2  # a usage error or a 400 (also 413, 415)
    AUTH = 3  # 401 or 403: missing, unknown or revoked key; an expired link
    NOT_FOUND = 4  # no such task for this key
    RATE_LIMITED = 5  # 429: over the key's rate or queue quota
    UNAVAILABLE = 6  # the server cannot be reached, or answered 5xx
    NOT_SAVED = 7  # the video was made but could not be written where -o says (the message says where it is)
    CANNOT_LISTEN = 8  # serve: the port is in use, or the address cannot be bound
    INTERRUPTED = 130  # Ctrl-C (generate: the task goes on)


EXIT_CODES_HELP = ("Exit codes: 0 ok, 1 task failed or canceled, 2 invalid request, 3 bad or missing API key, "
                   "4 task not found, 5 rate limited, 6 server unreachable or failing, 7 video made but not saved.")

BaseUrl = Annotated[str, typer.Option(envvar="SHOTLINE_BASE_URL", show_envvar=True, metavar="URL",
                                      help="The server's address.")]
ApiKey = Annotated[str, typer.Option(envvar="SHOTLINE_API_KEY", show_envvar=True, show_default=False,
                                     metavar="KEY", help="API key.")]
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def exit_code(e: ShotlineError) -> Exit:
    checks: list[tuple[tuple[type[ShotlineError], ...], Exit]] = [
        ((InvalidRequest, PayloadTooLarge, UnsupportedMediaType), Exit.INVALID),
        ((Unauthorized, Forbidden), Exit.AUTH),
        ((NotFound,), Exit.NOT_FOUND),
        ((RateLimited,), Exit.RATE_LIMITED),
        ((Conflict,), Exit.TASK_FAILED),
    ]
    for classes, code in checks:
        if isinstance(e, classes):
            return code
    if isinstance(e, ConnectionFailed) or (e.status_code or 0) >= 500:
        return Exit.UNAVAILABLE
    return Exit.TASK_FAILED  # TaskFailed and anything else about the task itself


def describe(e: ShotlineError) -> str:
    """One line: the server's own message, plus what to do where the CLI knows better."""
    message = e.message
    if isinstance(e, ConnectionFailed):
        message += "; is the server running? (--base-url or SHOTLINE_BASE_URL)"
    elif isinstance(e, Unauthorized):
        message += " (pass --api-key or set SHOTLINE_API_KEY; `shotline keys create` makes one)"
    elif isinstance(e, RateLimited) and e.retry_after is not None and "retry after" not in message:
        message += f" (retry after {e.retry_after:g} s)"
    elif (e.status_code or 0) >= 500 and not isinstance(e, ConnectionFailed):
        message = f"the server answered {e.status_code}: {message}"
    return " ".join(message.split())  # one line whatever the server sent


def fail(message: str, code: Exit) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(int(code))


class _RetryNotes(logging.Handler):
    """The SDK's retry log lines, shown as dim notes: a wait for Retry-After should not look like a hang."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[dim]{record.getMessage()}[/dim]", soft_wrap=True)


@contextlib.contextmanager
def reporting_errors() -> Iterator[None]:
    """Errors from the SDK become one line on stderr and an exit code: no tracebacks for a user."""
    sdk_log, notes = logging.getLogger("shotline.client"), _RetryNotes(logging.INFO)
    saved = sdk_log.level, sdk_log.propagate
    sdk_log.addHandler(notes)
    sdk_log.setLevel(logging.INFO)
    sdk_log.propagate = False  # shown once, here, whatever logging the embedded server set up
    try:
        yield
    except ShotlineError as e:
        fail(describe(e), exit_code(e))
    finally:
        sdk_log.removeHandler(notes)
        sdk_log.level, sdk_log.propagate = saved


def status_word(result: Any) -> str:
    return str(result.task.status.value).removeprefix("TASK_STATUS_").lower()


@contextlib.contextmanager
def progress_bar(description: str = "submitting") -> Iterator[tuple[Progress, Any]]:
    """A bar on stderr: status, bar, percent, time so far, and the server's estimate of the rest."""
    columns = (TextColumn("{task.description:<10}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[eta]}"))
    with Progress(*columns, console=err, transient=False) as bar:
        yield bar, bar.add_task(description, total=100, eta="")


def on_progress(bar: Progress, row: Any) -> Any:
    def update(result: Any) -> None:
        eta = "" if result.task.status.is_terminal or not result.task.eta else f"eta {result.task.eta} s"
        bar.update(row, completed=result.task.progress_percent, description=status_word(result), eta=eta)

    return update


def open_client(base_url: str, api_key: str) -> Any:
    """The SDK client for a command, after checking there is a key at all (exit 3 before any request)."""
    if not api_key.strip():
        fail("no API key: pass --api-key KEY or set SHOTLINE_API_KEY (`shotline keys create` makes one)", Exit.AUTH)
    from shotline.client import Shotline

    return Shotline(base_url, api_key)
