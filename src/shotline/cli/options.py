"""Options shared by commands: each one is also a SHOTLINE_* environment variable (the flag wins), and every
command shows that the same way, as `[env var: …]` in its help."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shotline.config import Settings


def env_option(name: str, help: str, *decls: str, metavar: str | None = None) -> typer.models.OptionInfo:
    """An option that falls back to SHOTLINE_<NAME> and says so in --help."""
    return typer.Option(*decls, envvar=f"SHOTLINE_{name}", show_envvar=True, show_default=False, metavar=metavar,
                        help=help)


DataDir = Annotated[Path | None, env_option(
    "DATA_DIR", "Data directory: database, results, logs (default ~/.local/share/shotline).", "--data-dir",
    metavar="DIR")]
Engine = Annotated[str | None, env_option("ENGINE", "Engine by name: tiny, ltx2 or wan (default tiny).",
                                          metavar="NAME")]
DatabaseUrl = Annotated[str | None, env_option(
    "DATABASE_URL", "SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in the data dir).",
    metavar="URL")]
QueueKind = Annotated[str | None, env_option("QUEUE", "inprocess or celery (default inprocess).", "--queue",
                                             metavar="KIND")]
BrokerUrl = Annotated[str | None, env_option("BROKER_URL", "Celery broker, e.g. redis://host:6379/0.", metavar="URL")]
StorageKind = Annotated[str | None, env_option("STORAGE", "local or s3 (default local).", "--storage", metavar="KIND")]
S3Bucket = Annotated[str | None, env_option("S3_BUCKET", "Bucket for results.", metavar="NAME")]
S3Endpoint = Annotated[str | None, env_option("S3_ENDPOINT_URL", "S3-compatible endpoint, e.g. MinIO (empty: AWS).",
                                              metavar="URL")]


def build_settings(**overrides: object) -> Settings:
    """Settings from the environment, with the flags that were given on top; an invalid one is one line
    naming its variable (exit 2)."""
    from pydantic import ValidationError

    from shotline.cli.remote import Exit, fail

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        first = e.errors()[0]
        name = "SHOTLINE_" + "_".join(str(part) for part in first["loc"][:1]).upper()
        fail(f"{name}: {first['msg']}, got {first.get('input')!r}", Exit.INVALID)
