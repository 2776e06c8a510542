"""Results on the local disk, under the data directory.

A file becomes visible only when complete: the worker writes into a work directory and the file is
moved into place with an atomic rename. Keys are made here from server-generated task ids; nothing a
client sends is ever joined into a path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_KEY = re.compile(r"^[0-9a-f-]{36}\.mp4$")


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def save(self, task_id: str, src: Path) -> str:
        key = f"{task_id}.mp4"
        if not _KEY.match(key):
            raise ValueError(f"not a task id: {task_id!r}")
        self.ensure()
        os.replace(src, self.root / key)
        return key

    def path(self, key: str) -> Path | None:
        if not _KEY.match(key):
            return None
        p = self.root / key
        return p if p.is_file() else None

    def writable(self) -> bool:
        try:
            self.ensure()
            return os.access(self.root, os.W_OK)
        except OSError:
            return False
