"""Failpoints: named places where a test can make a real process die or stall on purpose.

`SHOTLINE_FAILPOINTS="after_commit=exit"` makes the process exit abruptly (like `kill -9`) when it
reaches `failpoint("after_commit")`. Unset in production, every failpoint is a dictionary lookup. This is
how the fault tests hit the one moment that cannot be reached from outside: after the task row is
committed and before its message is sent.
"""

from __future__ import annotations

import os
import time

_ACTIVE = dict(
    item.split("=", 1) for item in os.environ.get("SHOTLINE_FAILPOINTS", "").split(",") if "=" in item
)


def failpoint(name: str) -> None:
    action = _ACTIVE.get(name)
    if action is None:
        return
    if action == "exit":
        os._exit(137)
    if action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))
