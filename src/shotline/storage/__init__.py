"""Where finished videos (and per-shot checkpoints) live, and the signed URLs that hand them out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from shotline.storage.local import LocalStorage

if TYPE_CHECKING:
    from shotline.config import Settings


def from_settings(settings: Settings) -> Storage:
    if settings.storage == "s3":
        from shotline.storage.s3 import S3Storage

        return S3Storage(bucket=settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=settings.s3_endpoint_url,
                         region=settings.s3_region, work_dir=settings.work_dir)
    return LocalStorage(settings.results_dir, checkpoints=settings.data_dir / "checkpoints")


class Storage(Protocol):
    def save(self, task_id: str, src: Path) -> str:
        """Store a finished video (moving it away from `src`); returns its key."""

    def locate(self, key: str, ttl_s: int) -> Path | str | None:
        """Where a stored video can be read: a local file, or a URL valid for `ttl_s` to redirect to;
        None if it is gone."""

    def delete(self, key: str) -> None:
        """Remove a stored video (retention); a missing key is not an error."""

    def stored_results(self) -> Iterator[tuple[str, float]]:
        """(key, last-modified unix time) of every stored video."""

    def writable(self) -> bool: ...

    def ensure(self) -> None: ...

    def put_checkpoint(self, task_id: str, name: str, src: Path) -> Path: ...

    def get_checkpoint(self, task_id: str, name: str, work_dir: Path) -> Path | None: ...

    def delete_checkpoints(self, task_id: str) -> None: ...


__all__ = ["LocalStorage", "Storage", "from_settings"]
