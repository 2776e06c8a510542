"""`shotline tasks list|show|cancel|download|delete`: a running server's tasks, through the SDK. Rich tables
for people, `--json` for scripts. Every command takes a task id whole or by a unique prefix (as git does)."""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import json
import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shotline.cli.progress import Display, Phases
from shotline.cli.remote import (
    DEFAULT_BASE_URL,
    EXIT_CODES_HELP,
    ApiKey,
    BaseUrl,
    Exit,
    err,
    fail,
    open_client,
    reporting_errors,
    status_word,
)
from shotline.client import TaskResultResponse, TaskStatus
from shotline.client._core import Call, succeeded_or_raise

tasks_app = typer.Typer(help="Tasks on a running server: list, show, cancel, download, delete.",
                        no_args_is_help=True, epilog=EXIT_CODES_HELP, rich_markup_mode=None)

out = Console(highlight=False)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (the API's own shape) for scripts.")]
TaskId = Annotated[str, typer.Argument(metavar="TASK_ID",
                                       help="The task id, whole or a unique prefix (e.g. d1928c92).")]
FULL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
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


def _age(ms: str) -> str:
    """How long ago, in the largest unit that fits: 45s, 12m, 3h, 5d."""
    if not ms:
        return ""
    seconds = max(0, int(time.time() - int(ms) / 1000))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _what(result: TaskResultResponse) -> tuple[str, str, str]:
    """Prompt (first words), duration and aspect ratio, from the request the list endpoint returns."""
    request = (result.extra.model_extra or {}).get("request") or {}
    shots = request.get("multi_prompt") or []
    prompt = request.get("prompt") or (shots[0]["prompt"] if shots else "")
    if len(shots) > 1:
        prompt = f"[{len(shots)} shots] {prompt}"
    duration = f"{request['duration']}s" if request.get("duration") else ""
    return " ".join(prompt.split()), duration, str(request.get("aspect_ratio", ""))


def resolve(client: Any, task_id: str) -> str:
    """A whole id as it is; a prefix, the one task of this key whose id starts with it (exit 4 if none,
    2 if several, naming them)."""
    task_id = task_id.strip().lower()
    if not task_id or FULL_ID.match(task_id):
        return task_id  # an empty one gets the server's own answer
    if len(task_id) < 4:
        fail(f"task_id: give at least 4 characters of the id, got {task_id!r}", Exit.INVALID)
    matches = [t.task.task_id for t in client.videos.list(limit=100) if t.task.task_id.startswith(task_id)]
    if not matches:
        fail(f"task_id: no task of this key starts with {task_id!r} (`shotline tasks list` shows them)",
             Exit.NOT_FOUND)
    if len(matches) > 1:
        fail(f"task_id: {task_id!r} is the start of {len(matches)} tasks ({', '.join(matches[:5])}"
             f"{', …' if len(matches) > 5 else ''}); give more of it", Exit.INVALID)
    return matches[0]


@tasks_app.command("list")
def list_tasks(
    status: Annotated[Status | None, typer.Option(help="Only tasks in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most this many tasks, newest first.")] = 20,
    as_json: AsJson = False,
    base_url: BaseUrl = DEFAULT_BASE_URL,
    api_key: ApiKey = "",
) -> None:
    """List this key's tasks, newest first: id (whole), status, age, duration, aspect ratio, prompt."""
    with reporting_errors(), open_client(base_url, api_key) as client:
        page = client.videos.list(status=status.wire if status else None, limit=min(limit, 100))
        tasks = list(itertools.islice(page, limit))
    if as_json:
        _json({"tasks": [t.model_dump(mode="json") for t in tasks]})
        return
    if not tasks:
        err.print("no tasks" + (f" with status {status.value}" if status else ""))
        return
    # Ids whole and never cut (they are what every other command takes); the prompt gets what is left.
    rows = []
    for t in tasks:
        prompt, duration, ratio = _what(t)
        word = status_word(t)
        shown = f"{word} {t.task.progress_percent}%" if word == "processing" else word
        rows.append((t.task.task_id, word, shown, _age(t.extra.debug_info.submit_time_ms), duration, ratio, prompt))
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    used = 0
    for i, name in enumerate(("task_id", "status", "age", "dur", "ratio")):
        width = max(len(name), *(len(r[i + 1 if i else 0]) for r in rows))
        table.add_column(name, no_wrap=True, min_width=width, justify="right" if name in ("age", "dur") else "left")
        used += width + 2
    table.add_column("prompt", no_wrap=True)
    # The prompt is cut here, to what the terminal has left: squeezed by rich instead, the narrow columns
    # would vanish before it shrank.
    room = max(8, out.size.width - used)
    for task_id, word, shown, age, duration, ratio, prompt in rows:
        prompt = prompt if len(prompt) <= room else prompt[:room - 1] + "…"
        table.add_row(task_id, f"[{STATUS_STYLE.get(word, 'white')}]{shown}[/]", age, duration, ratio,
                      escape(prompt))
    out.print(table)


@tasks_app.command("show")
def show(task_id: TaskId, as_json: AsJson = False, base_url: BaseUrl = DEFAULT_BASE_URL, api_key: ApiKey = "") -> None:
    """Show one task: status, progress, estimate, seed, times, video link.

    Exits 0 whatever the task's status; scripts read it from --json."""
    with reporting_errors(), open_client(base_url, api_key) as client:
        result = client.videos.retrieve(resolve(client, task_id))
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
        if value and value != "0":
            grid.add_row(name, value)
    out.print(grid)


@tasks_app.command("cancel")
def cancel(task_id: TaskId, as_json: AsJson = False, base_url: BaseUrl = DEFAULT_BASE_URL,
           api_key: ApiKey = "") -> None:
    """Cancel a task: a queued one never starts, a running one stops at its next step.

    A task that had already ended is left as it is (exit 1)."""
    with reporting_errors(), open_client(base_url, api_key) as client:
        task_id = resolve(client, task_id)
        result = client.videos.cancel(task_id)
    if as_json:
        _json(result.model_dump(mode="json"))
    else:
        err.print(f"{task_id}: {status_word(result)}")


@tasks_app.command("delete")
def delete(task_id: TaskId, as_json: AsJson = False, base_url: BaseUrl = DEFAULT_BASE_URL,
           api_key: ApiKey = "") -> None:
    """Delete a task and its video. A queued task is canceled first; a running one is refused (exit 1):
    cancel it first, or wait until it ends."""
    from shotline.errors import Conflict

    with reporting_errors(), open_client(base_url, api_key) as client:
        task_id = resolve(client, task_id)
        try:
            # The server's DELETE /v1/videos/{id} (same ids, same keys); the SDK has no videos.delete yet.
            body = client._send(Call("DELETE", f"/v1/videos/{task_id}")).json()
        except Conflict as e:
            fail(f"task {task_id} is still running; stop it with `shotline tasks cancel {task_id}`, or wait "
                 f"until it ends, then delete it ({e.metadata.get('status', 'running')})", Exit.TASK_FAILED)
    if as_json:
        _json(body)
    else:
        err.print(f"{task_id}: deleted")


@tasks_app.command("download")
def download(
    task_id: TaskId,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="PATH", help=(
        "Where to save the mp4 (default: <task_id>.mp4; a directory gets <task_id>.mp4 inside)."))] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the task with a progress bar until it ends.")] = False,
    base_url: BaseUrl = DEFAULT_BASE_URL,
    api_key: ApiKey = "",
) -> None:
    """Save a finished task's mp4 and print its path.

    A fresh signed link is fetched first, so an old task downloads as well as a new one."""
    from shotline.cli.generate import check_output

    if output is not None:
        check_output(output)
    with reporting_errors(), open_client(base_url, api_key) as client:
        task_id = resolve(client, task_id)
        path = output / f"{task_id}.mp4" if output is not None and output.is_dir() else output
        path = path or Path(f"{task_id}.mp4")
        result: TaskResultResponse | str = task_id
        if wait:
            with Display(Phases()) as display:
                result = succeeded_or_raise(client.videos.poll(task_id, on_progress=display))
        try:
            client.videos.download(result, path)
        except OSError as e:
            fail(f"could not save the video to {path}: {e.strerror or e}", Exit.NOT_SAVED)
    print(path.resolve())
