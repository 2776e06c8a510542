"""Options shared by commands: each one is also a SHOTLINE_* environment variable (the flag wins)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shotline.config import Settings

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (env SHOTLINE_DATA_DIR).")]
Engine = Annotated[str | None, typer.Option(help="Engine by name (env SHOTLINE_ENGINE).")]
DatabaseUrl = Annotated[str | None, typer.Option(
    help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (env SHOTLINE_DATABASE_URL; default SQLite in "
         "the data dir).")]
QueueKind = Annotated[str | None, typer.Option("--queue", help="inprocess or celery (env SHOTLINE_QUEUE).")]
BrokerUrl = Annotated[str | None, typer.Option(help="Celery broker, e.g. redis://host:6379/0 (env SHOTLINE_BROKER_URL).")]
StorageKind = Annotated[str | None, typer.Option("--storage", help="local or s3 (env SHOTLINE_STORAGE).")]
S3Bucket = Annotated[str | None, typer.Option(help="Bucket for results (env SHOTLINE_S3_BUCKET).")]
S3Endpoint = Annotated[str | None, typer.Option(help="S3-compatible endpoint, e.g. MinIO (env SHOTLINE_S3_ENDPOINT_URL).")]


def build_settings(**overrides: object) -> Settings:
    """Settings from the environment, with the flags that were given on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
