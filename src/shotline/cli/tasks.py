"""`shotline tasks list|show|cancel|download`: a running server's tasks, through the SDK. Rich tables for
people, `--json` for scripts."""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shotline.cli.remote import (
    DEFAULT_BASE_URL,
    EXIT_CODES_HELP,
    ApiKey,
    BaseUrl,
    err,
    on_progress,
    progress_bar,
    reporting_errors,
    status_word,
)
from shotline.client import Shotline, TaskResultResponse, TaskStatus
from shotline.client._core import succeeded_or_raise

tasks_app = typer.Typer(help="Tasks on a running server: list, show, cancel, download.", no_args_is_help=True,
                        epilog=EXIT_CODES_HELP)

out = Console(highlight=False)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (the API's own shape) for scripts.")]
TaskId = Annotated[str, typer.Argument(help="The task_id that create or generate printed.")]
STATUS_STYLE = {"queued": "cyan", "processing": "yellow", "succeed": "green", "failed": "red", "canceled": "dim"}


class Status(str, enum.Enum):
    queued = "queued"
    processing = "processing"
    succeed = "succeed"
    failed = "failed"
    canceled = "canceled"

    @property
    def wire(self) -> TaskStatus:
        return TaskStatus("TASK_STATUS_" + self.value.upper())


def _json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


def _time(ms: str) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(int(ms) / 1000).isoformat(sep=" ", timespec="seconds")


def _status(result: TaskResultResponse) -> str:
    word = status_word(result)
    return f"[{STATUS_STYLE.get(word, 'white')}]{word}[/]"


@tasks_app.command("list")
def list_tasks(
    status: Annotated[Status | None, typer.Option(help="Only tasks in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many tasks, newest first.")] = 20,
    as_json: AsJson = False,
    base_url: BaseUrl = DEFAULT_BASE_URL,
    api_key: ApiKey = "",
) -> None:
    """List this key's tasks, newest first."""
    with reporting_errors(), Shotline(base_url, api_key) as client:
        page = client.videos.list(status=status.wire if status else None, limit=min(limit, 100))
        tasks = list(itertools.islice(page, limit))
    if as_json:
        _json({"tasks": [t.model_dump(mode="json") for t in tasks]})
        return
    if not tasks:
        err.print("no tasks" + (f" with status {status.value}" if status else ""))
        return
    table = Table("task_id", "status", "progress", "submitted", "seed", "reason")
    for t in tasks:
        table.add_row(t.task.task_id, _status(t), f"{t.task.progress_percent}%",
                      _time(t.extra.debug_info.submit_time_ms), t.extra.seed, t.task.reason)
    out.print(table)


@tasks_app.command("show")
def show(task_id: TaskId, as_json: AsJson = False, base_url: BaseUrl = DEFAULT_BASE_URL, api_key: ApiKey = "") -> None:
    """Show one task: status, progress, estimate, seed, times, video link.

    Exits 0 whatever the task's status; scripts read it from --json."""
    with reporting_errors(), Shotline(base_url, api_key) as client:
        result = client.videos.retrieve(task_id)
    if as_json:
        _json(result.model_dump(mode="json"))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")  # a signed URL must come out whole, to copy
    debug, labels = result.extra.debug_info, result.extra.model_extra or {}
    rows = [
        ("task_id", result.task.task_id),
        ("status", _status(result)),
        ("progress", f"{result.task.progress_percent}%"),
        ("eta", f"{result.task.eta} s" if not result.task.status.is_terminal else ""),
        ("reason", result.task.reason),
        ("seed", result.extra.seed),
        ("engine", str(labels.get("engine", ""))),
        ("submitted", _time(debug.submit_time_ms)),
        ("started", _time(debug.execute_time_ms)),
        ("finished", _time(debug.complete_time_ms)),
        *[("video", f"{v.video_url}  (valid {v.video_url_ttl} s)") for v in result.videos],
        ("note", str(labels.get("notice", ""))),
    ]
    for name, value in rows:
        if value:
            grid.add_row(name, value)
    out.print(grid)


@tasks_app.command("cancel")
def cancel(task_id: TaskId, as_json: AsJson = False, base_url: BaseUrl = DEFAULT_BASE_URL,
           api_key: ApiKey = "") -> None:
    """Cancel a task: a queued one never starts, a running one stops at its next step.

    A task that had already ended is left as it is (exit 1)."""
    with reporting_errors(), Shotline(base_url, api_key) as client:
        result = client.videos.cancel(task_id)
    if as_json:
        _json(result.model_dump(mode="json"))
    else:
        err.print(f"{task_id}: {status_word(result)}")


@tasks_app.command("download")
def download(
    task_id: TaskId,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to save the mp4 "
                                                                        "(default: <task_id>.mp4).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the task with a progress bar until it ends.")] = False,
    base_url: BaseUrl = DEFAULT_BASE_URL,
    api_key: ApiKey = "",
) -> None:
    """Save a finished task's mp4 and print its path.

    A fresh signed link is fetched first, so an old task downloads as well as a new one."""
    path = output or Path(f"{task_id}.mp4")
    with reporting_errors(), Shotline(base_url, api_key) as client:
        result: TaskResultResponse | str = task_id
        if wait:
            with progress_bar("waiting") as (bar, row):
                result = succeeded_or_raise(client.videos.poll(task_id, on_progress=on_progress(bar, row)))
        client.videos.download(result, path)
    print(path.resolve())
