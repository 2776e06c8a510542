"""The settings table in docs/settings.md, generated from `shotline.config.Settings` so that it cannot drift
(tests/test_settings_doc.py fails when it does). Regenerate with:

    python -m shotline.cli.settings_doc docs/settings.md

Each setting's description is the comment written above it (or after it) in config.py: those comments are
already the documentation, and settings-doc-style generators would need every field rewritten with
`Field(description=…)`. A field without a comment of its own, in the same paragraph as one that has it,
points to that one."""

from __future__ import annotations

import inspect
import io
import re
import sys
import tokenize
from pathlib import Path

from pydantic.fields import FieldInfo

from shotline.config import Settings

BEGIN, END = "<!-- settings-table: begin (generated; edit config.py) -->", "<!-- settings-table: end -->"
FIELD = re.compile(r"^    (\w+)\s*:")


def field_comments() -> dict[str, str]:
    """Field name → its comment text, read from the class source."""
    source = inspect.getsource(Settings)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    trailing = {t.start[0]: t.string for t in tokens if t.type == tokenize.COMMENT and t.line.strip()[:1] != "#"}
    ends = sorted(t.start[0] for t in tokens if t.type == tokenize.NEWLINE)
    described: dict[str, str] = {}
    block: list[str] = []
    leader: str | None = None
    lines = source.splitlines()
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text.startswith("#"):
            block.append(text.lstrip("#").strip())
            continue
        if not text:
            block, leader = [], None
            continue
        match = FIELD.match(line)
        if not match:
            if not line.startswith("     "):  # a decorator or method; continuation lines belong to their field
                block, leader = [], None
            continue
        name = match.group(1)
        end = next((e for e in ends if e >= number), number)
        after = [trailing[n].lstrip("#").strip() for n in range(number, end + 1) if n in trailing]
        words = " ".join([*block, *after]).strip()
        if words:
            described[name], leader = words, name
        elif leader is not None:
            described[name] = f"See `SHOTLINE_{leader.upper()}`."
        block = []
    return described


def _default(info: FieldInfo, name: str) -> str:
    if name == "data_dir":
        return "`$XDG_DATA_HOME/shotline` (`~/.local/share/shotline`)"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, list):
        value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, bool):
        value = str(value).lower()
    return f"`{value}`" if value != "" else "(empty)"


def settings_table() -> str:
    comments = field_comments()
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        description = " ".join(comments.get(name, "").split()).replace("|", "\\|")
        rows.append(f"| `SHOTLINE_{name.upper()}` | {_default(info, name)} | {description} |")
    return "\n".join(rows)


def render(document: str) -> str:
    """The document with the table between its markers replaced by a fresh one."""
    head, sep, rest = document.partition(BEGIN)
    _old, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"the document needs the markers {BEGIN!r} and {END!r}")
    return f"{head}{BEGIN}\n{settings_table()}\n{END}{tail}"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/settings.md")
    target.write_text(render(target.read_text()))
    print(f"wrote the settings table into {target}")
