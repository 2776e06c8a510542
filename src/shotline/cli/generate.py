"""`shotline generate`: check the request, submit it, follow its phases on a progress bar, save the mp4.

Without --base-url an embedded server runs for the one command; its logs (the API's, the worker's, library
warnings) go to the data directory's `logs/generate.log`, never into the bar."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from shotline.cli.progress import Display, Phases, wait_for_engine
from shotline.cli.remote import Exit, err, fail, open_client, reporting_errors

SHOT_HELP = ('One shot of a multi-shot video; repeat it, in order. The text is the whole prompt (it is never '
             'split). Lengths go in --shot-seconds.')
SHOT_SECONDS_HELP = ('The shots\' lengths, one per --shot, comma-separated: whole seconds, or "auto" for a shot that '
                     'shares what is left of --duration (e.g. 2,auto,1). Default: all auto.')


def parse_seconds(value: str | None) -> int | None:
    """--duration: whole seconds, said in the same words as the server's range check."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        fail(f"--duration: must be whole seconds between 3 and 15, got {value!r}", Exit.INVALID)


def build_shots(shots: list[str], seconds: str | None) -> list[dict[str, Any]]:
    """`--shot` texts (each a whole prompt) and `--shot-seconds 2,auto,1` → the API's multi_prompt."""
    lengths: list[str] = [s.strip() for s in seconds.split(",")] if seconds else ["auto"] * len(shots)
    if len(lengths) != len(shots):
        fail(f"--shot-seconds: give one length per --shot ({len(shots)} shots, {len(lengths)} lengths)",
             Exit.INVALID)
    built = []
    for i, (prompt, length) in enumerate(zip(shots, lengths, strict=True)):
        shot: dict[str, Any] = {"prompt": prompt}
        if length.lower() != "auto":
            if not length.isdigit():
                fail(f"--shot-seconds: shot {i + 1} must be whole seconds or auto, got {length!r}", Exit.INVALID)
            shot["duration"] = int(length)
        built.append(shot)
    return built


def check_output(output: Path) -> Path:
    """Refuse, before any work, an -o that can never be written; a directory is fine (the file goes inside)."""
    if output.is_dir():
        return output
    if str(output).endswith(os.sep):
        fail(f"-o: the directory {output} does not exist", Exit.INVALID)
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        fail(f"-o: the directory {parent} does not exist (create it first)", Exit.INVALID)
    if not os.access(parent, os.W_OK):
        fail(f"-o: cannot write into {parent} (permission denied)", Exit.INVALID)
    return output


def generate(
    prompt: Annotated[str, typer.Argument(metavar="PROMPT", show_default=False,
                                          help="What to see and hear (leave it out with --shot).")] = "",
    output: Annotated[Path, typer.Option("--output", "-o", metavar="PATH",
                                         help="Where to save the mp4; a directory gets <task_id>.mp4.")
                      ] = Path("shotline.mp4"),
    duration: Annotated[str | None, typer.Option(metavar="SECONDS", show_default=False,
                                                 help="Seconds, 3–15 (default 5, or the shots' sum).")] = None,
    aspect_ratio: Annotated[str, typer.Option(metavar="RATIO", help="16:9, 9:16 or 1:1.")] = "16:9",
    sound: Annotated[bool, typer.Option("--sound/--no-sound", help="Generate an audio track.")] = False,
    cfg_scale: Annotated[float, typer.Option(metavar="0..1", help="Higher follows the prompt more closely.")] = 0.5,
    negative_prompt: Annotated[str, typer.Option(metavar="TEXT", help="What to avoid in picture and sound.")] = "",
    shot: Annotated[list[str] | None, typer.Option(metavar="PROMPT", help=SHOT_HELP)] = None,
    shot_seconds: Annotated[str | None, typer.Option(metavar="LIST", help=SHOT_SECONDS_HELP)] = None,
    seed: Annotated[int | None, typer.Option(metavar="N", help="Seed, to repeat a video exactly.")] = None,
    base_url: Annotated[str | None, typer.Option(
        envvar="SHOTLINE_BASE_URL", show_envvar=True, metavar="URL",
        help="A running server; without one, an embedded server runs for this command.")] = None,
    api_key: Annotated[str, typer.Option(envvar="SHOTLINE_API_KEY", show_envvar=True, show_default=False,
                                         metavar="KEY", help="API key for --base-url.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the final result as JSON (for scripts).")] = False,
) -> None:
    """Generate a video and save it as an mp4, showing each phase: loading engine, queued, generating (shot k
    of n, step), encoding, saving.

    Prints the mp4's path; with --json, {"path", "result"} (also when the task fails).

    Exit codes: 0 ok, 1 task failed or canceled, 2 invalid request, 3 bad or missing API key, 4 not found,
    5 rate limited, 6 server unreachable or failing, 7 made but not saved, 130 interrupted (the task goes on)."""
    fields: dict[str, Any] = {"aspect_ratio": aspect_ratio, "sound": sound, "cfg_scale": cfg_scale,
                              "negative_prompt": negative_prompt}
    if shot:
        if prompt:
            fail("give a prompt or --shot options, not both", Exit.INVALID)
        fields["multi_prompt"] = build_shots(shot, shot_seconds)
    elif shot_seconds:
        fail("--shot-seconds: only with --shot", Exit.INVALID)
    else:
        fields["prompt"] = prompt
    if (seconds := parse_seconds(duration)) is not None:
        fields["duration"] = seconds
    if seed is not None:
        fields["seed"] = seed
    check_inputs(fields)  # before any server starts: a wrong request is one line, at once
    output = check_output(output)
    phases = Phases(shots=len(fields.get("multi_prompt") or [None]))

    from shotline.client import TaskFailed

    with contextlib.ExitStack() as stack:
        embedded = None
        if base_url is None:
            from shotline.cli.embedded import logs_to_file
            from shotline.cli.options import build_settings

            settings = build_settings()
            log_path = settings.data_dir / "logs" / "generate.log"
            stack.enter_context(logs_to_file(log_path, settings.log_level))  # before the bar takes the terminal
            display = stack.enter_context(Display(phases))
            embedded = stack.enter_context(_embedded(settings, display, log_path))
            base_url, api_key = embedded.base_url, embedded.api_key
        else:
            display = stack.enter_context(Display(phases))
        stack.enter_context(reporting_errors())
        client = stack.enter_context(open_client(base_url, api_key))
        try:
            result, path = _run(client, fields, output, display, embedded)
        except TaskFailed as failed:
            if as_json:
                print(json.dumps({"path": None, "result": failed.result.model_dump(mode="json")}))
            raise
    if as_json:
        print(json.dumps({"path": str(path.resolve()), "result": result.model_dump(mode="json")}))
    else:
        notice = (result.extra.model_extra or {}).get("notice")
        if notice:
            err.print(f"[yellow]note:[/yellow] {notice}", soft_wrap=True)
        print(path.resolve())


def check_inputs(fields: dict[str, Any]) -> None:
    """The SDK's own local check (the server's request model), so the words are the server's."""
    from shotline.client._core import create_call

    with reporting_errors():
        create_call(None, fields, None)


@contextlib.contextmanager
def _embedded(settings: Any, display: Display, log_path: Path) -> Any:
    from shotline.cli.embedded import EmbeddedServer

    display.bar.console.print(f"[dim]embedded server: engine {settings.engine}, data {settings.data_dir}, "
                              f"log {log_path}[/dim]", soft_wrap=True, highlight=False)
    display.phases.steps = _steps(settings)
    display.phase("starting embedded server", total=None)
    try:
        server = EmbeddedServer(settings, log_path)
    except ValueError as e:  # an invalid setting (SHOTLINE_ENGINE, SHOTLINE_PRESET …)
        fail(str(e), Exit.INVALID)
    with reporting_errors(), server:
        wait_for_engine(server.base_url, settings.engine, display, log_path)
        yield server


def _steps(settings: Any) -> int | None:
    """Denoising steps of the embedded engine, for "step s of n" (unknown for a remote server)."""
    try:
        from shotline.engines.registry import spec_for

        return settings.steps or spec_for(settings.engine, settings).default_steps or None
    except Exception:  # noqa: BLE001 (only a detail of the display)
        return None


def _run(client: Any, fields: dict[str, Any], output: Path, display: Display, embedded: Any) -> tuple[Any, Path]:
    from shotline.client._core import succeeded_or_raise

    task_id = client.videos.create(**fields)
    display.bar.console.print(f"[dim]task {task_id}[/dim]", highlight=False)
    path = output / f"{task_id}.mp4" if output.is_dir() else output
    try:
        result = client.videos.poll(task_id, on_progress=display)
    except KeyboardInterrupt:
        display.stop()
        if embedded is not None:  # the server stops with this command: a task left queued would run first next time
            with contextlib.suppress(Exception):
                client.videos.cancel(task_id)
            err.print(f"interrupted; task {task_id} canceled")
        else:
            err.print(f"interrupted; task {task_id} goes on on the server (shotline tasks cancel {task_id})")
        raise typer.Exit(Exit.INTERRUPTED) from None
    result = succeeded_or_raise(result)
    display.phase("saving", path.name)
    try:
        client.videos.download(result, path)
    except OSError as e:
        display.stop()
        _not_saved(client, result, path, e, embedded)
    display.done()
    display.stop()  # the final state stays on screen while an embedded server shuts down
    return result, path


def _not_saved(client: Any, result: Any, path: Path, error: OSError, embedded: Any) -> None:
    """The video exists but could not be written where asked: say where it is instead (exit 7)."""
    task_id = result.task.task_id
    why = f"could not save the video to {path}: {error.strerror or error}"
    if embedded is None:
        fail(f"{why}; it is on the server: shotline tasks download {task_id} -o PATH", Exit.NOT_SAVED)
    # The embedded server stops with this command and its one-off key with it: keep a copy in the data dir.
    kept = embedded.data_dir / "videos" / f"{task_id}.mp4"
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        client.videos.download(result, kept)
    except OSError:
        fail(f"{why}; the task {task_id} is in the embedded server's data dir", Exit.NOT_SAVED)
    fail(f"{why}; saved it as {kept} instead", Exit.NOT_SAVED)
