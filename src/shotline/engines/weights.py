"""Reading a weights folder's configs without torch: the API process uses it to plan (which recipe, which
preset) where it can see the weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; empty when the file is missing or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def local_folder(model: str, revision: str = "") -> Path | None:
    """The weights folder for SHOTLINE_MODEL when this process can see it (a directory, or a snapshot in the
    local Hugging Face cache); None otherwise (an API machine without the weights)."""
    if not model:
        return None
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if model.count("/") != 1 or model.startswith((".", "/", "~")):
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=model, revision=revision or None, local_files_only=True))
    except Exception:
        return None
