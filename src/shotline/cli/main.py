"""The command line (typer + rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shotline.cli.gc import gc
from shotline.cli.generate import generate
from shotline.cli.options import (
    BrokerUrl,
    DatabaseUrl,
    DataDir,
    Engine,
    QueueKind,
    S3Bucket,
    S3Endpoint,
    StorageKind,
    build_settings,
)
from shotline.cli.models import ModelPath, models_app
from shotline.cli.worker import worker

app = typer.Typer(help="Shotline: the Kling v3.0 Pro text-to-video API on your own GPUs.", no_args_is_help=True,
                  add_completion=False)
keys_app = typer.Typer(help="API keys (stored hashed; shown once at creation).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.command()(generate)
app.command()(worker)
app.command()(gc)

err = Console(stderr=True)

_settings = build_settings


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (env SHOTLINE_HOST, default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (env SHOTLINE_PORT, default 8000).")] = None,
    engine: Engine = None,
    model: ModelPath = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    queue: QueueKind = None,
    broker_url: BrokerUrl = None,
    storage: StorageKind = None,
    s3_bucket: S3Bucket = None,
    s3_endpoint_url: S3Endpoint = None,
) -> None:
    """Run the API server. With the embedded default (SQLite, local files, --queue inprocess) it also runs
    its own worker; with --queue celery, workers are separate `shotline worker` processes."""
    import uvicorn

    from shotline.api import create_app
    from shotline.logs import setup_logging

    settings = _settings(host=host, port=port, engine=engine, model=model, data_dir=data_dir,
                         database_url=database_url, queue=queue, broker_url=broker_url, storage=storage,
                         s3_bucket=s3_bucket, s3_endpoint_url=s3_endpoint_url)
    setup_logging(settings.log_level)
    try:
        application = create_app(settings)
    except ValueError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    err.print(f"Shotline on http://{settings.host}:{settings.port}  engine={settings.engine}  "
              f"data={settings.data_dir}")
    uvicorn.run(application, host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


def _key_store(data_dir: Path | None):  # noqa: ANN202
    from shotline.store import KeyStore, make_engine, migrate

    settings = _settings(data_dir=data_dir)
    db = make_engine(settings.resolved_database_url)
    migrate(db)
    return KeyStore(db)


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="A label for the key.")] = "", data_dir: DataDir = None) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    info, raw = _key_store(data_dir).create(name)
    err.print(f"Created key [bold]{info.id}[/bold] {name!r}. It is shown once; store it now:")
    print(raw)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List keys (ids and names, never the keys)."""
    table = Table("id", "name", "created", "revoked")
    import datetime as dt

    for k in _key_store(data_dir).list():
        created = dt.datetime.fromtimestamp(k.created_at_ms / 1000).isoformat(timespec="seconds")
        table.add_row(k.id, k.name, created, "yes" if k.revoked else "")
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke a key by id; requests with it get 401 at once."""
    if not _key_store(data_dir).revoke(key_id):
        err.print(f"[red]no live key {key_id}[/red]")
        raise typer.Exit(1)
    err.print(f"revoked {key_id}")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Bring the database schema to the latest migration (also done on every start)."""
    from shotline.store import make_engine, migrate

    settings = _settings(data_dir=data_dir)
    migrate(make_engine(settings.resolved_database_url))
    err.print("database schema is up to date")
