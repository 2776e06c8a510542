"""`shotline generate`: submit, follow the progress, save the mp4."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from shotline.errors import InvalidRequest, RateLimited, ShotlineError, Unauthorized

err = Console(stderr=True)

EXIT_FAILED, EXIT_INVALID, EXIT_AUTH, EXIT_UNREACHABLE, EXIT_BUSY = 1, 2, 3, 4, 5


def parse_shot(text: str) -> dict[str, Any]:
    """"a fox runs:3" → {"prompt": "a fox runs", "duration": 3}; without ":N" the shot shares the rest."""
    prompt, sep, seconds = text.rpartition(":")
    if sep and seconds.strip().isdigit():
        return {"prompt": prompt.strip(), "duration": int(seconds)}
    return {"prompt": text.strip()}


def generate(
    prompt: Annotated[str, typer.Argument(help="What to see and hear (leave empty with --shot).")] = "",
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to save the mp4.")] = Path("shotline.mp4"),
    duration: Annotated[int | None, typer.Option(help="Seconds, 3–15 (default 5, or the shots' sum).")] = None,
    aspect_ratio: Annotated[str, typer.Option(help="16:9, 9:16 or 1:1.")] = "16:9",
    sound: Annotated[bool, typer.Option("--sound/--no-sound", help="Generate an audio track.")] = False,
    cfg_scale: Annotated[float, typer.Option(help="0–1: higher follows the prompt more closely.")] = 0.5,
    negative_prompt: Annotated[str, typer.Option(help="What to avoid in picture and sound.")] = "",
    shot: Annotated[list[str] | None, typer.Option(help='A shot "prompt:seconds"; repeat for multi-shot.')] = None,
    seed: Annotated[int | None, typer.Option(help="Seed, to repeat a video exactly.")] = None,
    base_url: Annotated[str | None, typer.Option(
        help="A running server (env SHOTLINE_BASE_URL); without one, an embedded server runs for this command.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for --base-url (env SHOTLINE_API_KEY).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final result as JSON (for scripts).")] = False,
) -> None:
    """Generate a video and save it as an mp4, with a progress bar."""
    from shotline.client import Shotline

    fields: dict[str, Any] = {"aspect_ratio": aspect_ratio, "sound": sound, "cfg_scale": cfg_scale,
                              "negative_prompt": negative_prompt}
    if shot:
        fields["multi_prompt"] = [parse_shot(s) for s in shot]
        if prompt:
            err.print("[red]error:[/red] give a prompt or --shot options, not both")
            raise typer.Exit(EXIT_INVALID)
    else:
        fields["prompt"] = prompt
    if duration is not None:
        fields["duration"] = duration
    if seed is not None:
        fields["extra"] = {"seed": seed}

    base_url = base_url or os.environ.get("SHOTLINE_BASE_URL")
    api_key = api_key or os.environ.get("SHOTLINE_API_KEY") or ""
    with contextlib.ExitStack() as stack:
        if base_url is None:
            from shotline.cli.embedded import EmbeddedServer
            from shotline.config import Settings

            settings = Settings()
            if "SHOTLINE_LOG_LEVEL" not in os.environ:
                settings = settings.model_copy(update={"log_level": "WARNING"})  # keep the progress bar clean
            err.print(f"[dim]starting an embedded server (engine {settings.engine}, data {settings.data_dir})[/dim]")
            server = stack.enter_context(EmbeddedServer(settings))
            base_url, api_key = server.base_url, server.api_key
        client = stack.enter_context(Shotline(base_url, api_key))
        try:
            result = _run(client, fields, output)
        except ShotlineError as e:
            err.print(f"[red]error:[/red] {e.message}")
            raise typer.Exit(_exit_code(e)) from e
        except httpx.TransportError as e:
            err.print(f"[red]error:[/red] cannot reach {base_url}: {e}")
            raise typer.Exit(EXIT_UNREACHABLE) from e
    if as_json:
        print(json.dumps({"path": str(output.resolve()), "result": result.model_dump(mode="json")}))
    else:
        notice = (result.extra.model_extra or {}).get("notice")
        if notice:
            err.print(f"[yellow]note:[/yellow] {notice}")
        print(output.resolve())


def _run(client: Any, fields: dict[str, Any], output: Path) -> Any:
    from shotline.client.sdk import TaskFailed

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[eta]}"))
    with Progress(*columns, console=err, transient=False) as bar:
        row = bar.add_task("submitting", total=100, eta="")
        task_id = client.videos.create(**fields)

        def on_progress(result: Any) -> None:
            status = result.task.status.value.removeprefix("TASK_STATUS_").lower()
            eta = f"eta {result.task.eta} s" if not result.task.status.is_terminal else ""
            bar.update(row, completed=result.task.progress_percent, description=status, eta=eta)

        result = client.videos.poll(task_id, on_progress=on_progress)
        if result.task.status.value != "TASK_STATUS_SUCCEED":
            raise TaskFailed(result)
        bar.update(row, description="downloading")
        client.videos.download(result, output)
        bar.update(row, description="saved", completed=100)
    return result


def _exit_code(e: ShotlineError) -> int:
    if isinstance(e, InvalidRequest):
        return EXIT_INVALID
    if isinstance(e, Unauthorized):
        return EXIT_AUTH
    if isinstance(e, RateLimited) or e.status_code == 503:
        return EXIT_BUSY
    return EXIT_FAILED
