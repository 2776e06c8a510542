"""Results on the local disk, under the data directory.

A file becomes visible only when complete: the worker writes into a work directory and the file is
moved into place with an atomic rename. Keys are made here from server-generated task ids; nothing a
client sends is ever joined into a path.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from shotline.ids import is_task_id

_NAME = re.compile(r"^[0-9A-Za-z._-]{1,128}$")


def check_task_id(task_id: str) -> str:
    if not is_task_id(task_id):
        raise ValueError(f"not a task id: {task_id!r}")
    return task_id


def _is_key(name: str) -> bool:
    return name.endswith(".mp4") and is_task_id(name.removesuffix(".mp4"))


def check_checkpoint_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"bad checkpoint name {name!r}")
    return name


class LocalStorage:
    def __init__(self, root: Path, checkpoints: Path | None = None) -> None:
        self.root = root
        self.checkpoints = checkpoints or root.parent / "checkpoints"

    # --------------------------------------------------------------------------------------- results

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def save(self, task_id: str, src: Path) -> str:
        key = f"{check_task_id(task_id)}.mp4"
        self.ensure()
        os.replace(src, self.root / key)
        return key

    def locate(self, key: str, ttl_s: int) -> Path | None:
        """Where to read a stored video: a local file (None if it is gone)."""
        if not _is_key(key):
            return None
        p = self.root / key
        return p if p.is_file() else None

    def delete(self, key: str) -> None:
        """Remove a stored video (retention); a key that is gone already is fine."""
        if _is_key(key):
            (self.root / key).unlink(missing_ok=True)

    def stored_results(self) -> Iterator[tuple[str, float]]:
        """(key, last-modified time) of every stored video, for the retention sweep of orphans."""
        if not self.root.is_dir():
            return
        for p in self.root.iterdir():
            if _is_key(p.name):
                try:
                    yield p.name, p.stat().st_mtime
                except FileNotFoundError:
                    continue

    def writable(self) -> bool:
        try:
            self.ensure()
            return os.access(self.root, os.W_OK)
        except OSError:
            return False

    # Checkpoints: per-shot files a requeued task resumes from (see runner.py). Local ones stay where they
    # are put, so `put_checkpoint` moves the file and hands back its new path.

    def _checkpoint_dir(self, task_id: str) -> Path:
        return self.checkpoints / check_task_id(task_id)

    def put_checkpoint(self, task_id: str, name: str, src: Path) -> Path:
        folder = self._checkpoint_dir(task_id)
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / check_checkpoint_name(name)
        os.replace(src, dest)
        return dest

    def get_checkpoint(self, task_id: str, name: str, work_dir: Path) -> Path | None:
        if not _NAME.match(name):
            return None
        path = self._checkpoint_dir(task_id) / name
        return path if path.is_file() else None

    def delete_checkpoints(self, task_id: str) -> None:
        shutil.rmtree(self._checkpoint_dir(task_id), ignore_errors=True)
