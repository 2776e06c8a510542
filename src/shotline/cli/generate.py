"""`shotline generate`: submit, follow the progress, save the mp4."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from shotline.cli.remote import Exit, err, fail, on_progress, progress_bar, reporting_errors


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
        envvar="SHOTLINE_BASE_URL", show_envvar=True,
        help="A running server; without one, an embedded server runs for this command.")] = None,
    api_key: Annotated[str, typer.Option(envvar="SHOTLINE_API_KEY", show_envvar=True, show_default=False,
                                         help="API key for --base-url.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the final result as JSON (for scripts).")] = False,
) -> None:
    """Generate a video and save it as an mp4, with a progress bar.

    The bar shows status, percent, time so far and the server's estimate. Prints the mp4's path; with --json,
    {"path", "result"} (also when the task fails).

    Exit codes: 0 ok, 1 task failed or canceled, 2 invalid request, 3 bad or missing API key, 4 not found,
    5 rate limited, 6 server unreachable or failing, 130 interrupted (the task goes on)."""
    from shotline.client import Shotline, TaskFailed

    fields: dict[str, Any] = {"aspect_ratio": aspect_ratio, "sound": sound, "cfg_scale": cfg_scale,
                              "negative_prompt": negative_prompt}
    if shot:
        if prompt:
            fail("give a prompt or --shot options, not both", Exit.INVALID)
        fields["multi_prompt"] = [parse_shot(s) for s in shot]
    else:
        fields["prompt"] = prompt
    if duration is not None:
        fields["duration"] = duration
    if seed is not None:
        fields["seed"] = seed

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
        stack.enter_context(reporting_errors())
        try:
            result = _run(client, fields, output)
        except TaskFailed as failed:
            if as_json:
                print(json.dumps({"path": None, "result": failed.result.model_dump(mode="json")}))
            raise
    if as_json:
        print(json.dumps({"path": str(output.resolve()), "result": result.model_dump(mode="json")}))
    else:
        notice = (result.extra.model_extra or {}).get("notice")
        if notice:
            err.print(f"[yellow]note:[/yellow] {notice}")
        print(output.resolve())


def _run(client: Any, fields: dict[str, Any], output: Path) -> Any:
    from shotline.client._core import succeeded_or_raise

    task_id = client.videos.create(**fields)  # before the bar, so a refused request leaves just its error
    err.print(f"[dim]task {task_id}[/dim]")
    with progress_bar("queued") as (bar, row):
        try:
            result = succeeded_or_raise(client.videos.poll(task_id, on_progress=on_progress(bar, row)))
        except KeyboardInterrupt:
            bar.stop()
            err.print(f"interrupted; task {task_id} goes on on the server (shotline tasks cancel {task_id})")
            raise typer.Exit(130) from None
        bar.update(row, description="downloading")
        client.videos.download(result, output)
        bar.update(row, description="saved", completed=100)
    return result
