"""How the command line looks in --help and when a command line is wrong.

Typer (0.2x) renders a type after every option, flags included (`--json <bool>`), and required arguments as
`{TASK_ID}` in the usage line; click's own conventions (no type on a flag, `TASK_ID` bare) read better and
match every other Unix tool. Two small overrides, applied once, before the app runs; options that take a
value name it with a metavar (`--base-url URL`). Typer has no setting for either, hence the overrides.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

try:
    from typer._click import exceptions as click_errors  # typer 0.2x ships its own copy of click
except ImportError:  # older typer runs on click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]


def apply() -> None:
    if getattr(TyperOption, "_shotline_style", False):
        return
    option_type = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else option_type(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]  # its NAME says it
    if hasattr(TyperArgument, "_usage_display_name"):
        def usage_name(self: TyperArgument) -> str:
            name = self.display_name_raw
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
    TyperOption._shotline_style = True  # type: ignore[attr-defined]


def usage_error_line(e: Any) -> str:
    """A wrong command line as one line, like every other error: `--duration: must be …`."""
    if isinstance(e, click_errors.BadParameter) and e.param is not None and e.message:
        hint = e.param_hint if isinstance(e.param_hint, str) else None
        if hint is None:
            names = getattr(e.param, "opts", None) or [e.param.name or ""]
            hint = names[0] if names[0].startswith("-") else (getattr(e.param, "metavar", None) or names[0].upper())
        return f"{hint.strip(chr(39))}: {e.message}"
    message = " ".join(e.format_message().split())
    command = e.ctx.command_path if getattr(e, "ctx", None) is not None else "shotline"
    return f"{message} (see {command} --help)"
