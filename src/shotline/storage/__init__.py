"""Where finished videos (and per-shot checkpoints) live, and the signed URLs that hand them out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shotline.storage.local import LocalStorage

if TYPE_CHECKING:
    from shotline.config import Settings


def from_settings(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.results_dir, checkpoints=settings.data_dir / "checkpoints")


__all__ = ["LocalStorage", "from_settings"]
