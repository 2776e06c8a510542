"""The command line (typer + rich): the commands in the order a new user meets them, `--version`, and
`main()`, which turns every error into one line and an exit code (docs/cli.md); nobody sees a traceback."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from shotline.cli import style
from shotline.cli.admin import db_app, keys_app
from shotline.cli.gc import gc
from shotline.cli.generate import generate
from shotline.cli.models import models_app
from shotline.cli.remote import Exit, err
from shotline.cli.serve import serve
from shotline.cli.style import click_errors
from shotline.cli.tasks import tasks_app
from shotline.cli.worker import worker

ORDER = ["generate", "serve", "tasks", "keys", "worker", "models", "gc", "db"]


class _InOrder(TyperGroup):
    """Commands in the order a new user meets them (typer lists sub-groups after plain commands)."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))


app = typer.Typer(help="Shotline: the Kling v3.0 Pro text-to-video API on your own GPUs.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None, cls=_InOrder)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("shotline")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        print(f"shotline {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                           help="Print the version and exit.")] = False,
) -> None:
    """Shotline: the Kling v3.0 Pro text-to-video API on your own GPUs."""


# The order `shotline --help` lists them in: first run, serving, a server's tasks, then operations.
app.command()(generate)
app.command()(serve)
app.add_typer(tasks_app, name="tasks")
app.add_typer(keys_app, name="keys")
app.command()(worker)
app.add_typer(models_app, name="models")
app.command()(gc)
app.add_typer(db_app, name="db")


def main(args: list[str] | None = None) -> None:
    """The `shotline` script. Usage errors and anything unexpected end as one line on stderr."""
    style.apply()
    try:
        code = app(args=args, standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        e.show()  # the command's help, as `shotline` alone prints it
        code = 0
    except click_errors.ClickException as e:
        err.print(f"[red]error:[/red] {style.usage_error_line(e)}", soft_wrap=True)
        code = e.exit_code
    except (typer.Exit, getattr(click_errors, "Exit", typer.Exit)) as e:
        code = e.exit_code
    except (typer.Abort, getattr(click_errors, "Abort", typer.Abort), KeyboardInterrupt):
        err.print("interrupted")
        code = Exit.INTERRUPTED
    except Exception as e:  # noqa: BLE001 (a bug: still one line, with the way to see more)
        if os.environ.get("SHOTLINE_TRACEBACK"):
            traceback.print_exc()
        err.print(f"[red]error:[/red] unexpected {type(e).__name__}: {e} (a bug; SHOTLINE_TRACEBACK=1 shows where)",
                  soft_wrap=True)
        code = 70
    sys.exit(int(code or 0))
