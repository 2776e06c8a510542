"""Run the `shotline` script under a pseudo-terminal, as a person at a terminal runs it: what it printed
(colours and cursor moves removed, as the eye reads the last state of each line) and its exit code."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SHOTLINE = str(Path(sys.executable).parent / "shotline")
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


@dataclass
class TerminalRun:
    raw: str  # everything the terminal received, escape codes included
    code: int
    columns: int = 80

    @property
    def lines(self) -> list[str]:
        """The non-empty lines a person sees at the end, scrollback included: the output played through a
        terminal emulator (pyte), so a bar redrawn in place is one line in its last state."""
        import pyte

        screen = pyte.HistoryScreen(self.columns, 40, history=100_000)
        screen.set_mode(pyte.modes.LNM)  # a line feed also returns the carriage, as the tty's onlcr does
        stream = pyte.Stream(screen)
        stream.feed(self.raw)
        scrolled = ["".join(line[x].data for x in range(self.columns)) for line in screen.history.top]
        return [line.rstrip() for line in [*scrolled, *screen.display] if line.strip()]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def every_frame(self) -> str:
        """Every state each line passed through (each redraw of the bar), for what was shown only a moment."""
        return ANSI.sub("\n", self.raw).replace("\r", "\n")


def run_in_terminal(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                    timeout: float = 600, columns: int = 80) -> TerminalRun:
    """stdin, stdout and stderr all on one pseudo-terminal of `columns` × 40; returns when the process exits
    and the terminal has nothing more to read (a deadline only so that a hung command fails the test)."""
    primary, secondary = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    base = {k: v for k, v in os.environ.items() if not k.startswith("SHOTLINE_")}
    base.update({"TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "40"})
    base.pop("NO_COLOR", None)
    proc = subprocess.Popen([SHOTLINE, *args], stdin=secondary, stdout=secondary, stderr=secondary,
                            env={**base, **(env or {})}, cwd=cwd, close_fds=True, start_new_session=True)
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    data = os.read(primary, 65536)
                except OSError:  # EIO: every holder of the terminal has closed it
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"shotline {' '.join(args)} still running after {timeout} s:\n"
                                 + b"".join(chunks).decode(errors="replace")[-4000:])
    finally:
        os.close(primary)
    return TerminalRun(b"".join(chunks).decode(errors="replace"), proc.wait(timeout=60), columns)
