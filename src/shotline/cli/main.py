"""The command line (typer + rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shotline.cli.gc import gc
from shotline.cli.generate import generate
from shotline.cli.models import ModelPath, models_app
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
from shotline.cli.tasks import tasks_app
from shotline.cli.worker import worker

app = typer.Typer(help="Shotline: the Kling v3.0 Pro text-to-video API on your own GPUs.", no_args_is_help=True,
                  add_completion=False)
keys_app = typer.Typer(help="API keys (stored hashed; shown once at creation).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(tasks_app, name="tasks")
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

    from shotline.api.app import create_app
    from shotline.logs import setup_logging

    settings = _settings(host=host, port=port, engine=engine, model=model, data_dir=data_dir,
                         database_url=database_url, queue=queue, broker_url=broker_url, storage=storage,
                         s3_bucket=s3_bucket, s3_endpoint_url=s3_endpoint_url)
    setup_logging(settings.log_level, settings.log_format)
    try:
        application = create_app(settings)
    except ValueError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    err.print(f"Shotline on http://{settings.host}:{settings.port}  engine={settings.engine}  "
              f"data={settings.data_dir}")
    # access_log off: the API logs each request itself, with its request id (api/request_id.py).
    uvicorn.run(application, host=settings.host, port=settings.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=10, timeout_keep_alive=settings.keep_alive_s)


def _key_store(data_dir: Path | None):
    from shotline.db import KeyStore, make_db, migrate

    settings = _settings(data_dir=data_dir)
    db = make_db(settings.resolved_database_url)
    migrate(db)
    return KeyStore(db)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    rate: Annotated[str | None, typer.Option(
        help="Task creations this key may make, e.g. 60/min, 5/s, 500/h (default: SHOTLINE_RATE_LIMIT).",
    )] = None,
    max_queued: Annotated[int | None, typer.Option(
        min=1, help="Tasks this key may have queued or running at once (default: SHOTLINE_MAX_QUEUED_PER_KEY).",
    )] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from shotline.ratelimit import normalize_rate

    try:
        normalized = normalize_rate(rate) if rate is not None else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--rate") from e
    if rate is not None and normalized is None:
        raise typer.BadParameter("must be at least 1 per period; leave it out for the server's default",
                                 param_hint="--rate")
    store = _key_store(data_dir)
    info, raw = store.create(name, rate=normalized, max_queued=max_queued)
    err.print(f"Created key [bold]{info.id}[/bold] {name!r} (rate {info.rate or 'server default'}, "
              f"max queued {info.max_queued or 'server default'}). It is shown once; store it now:")
    print(raw)
    err.print(f"Its webhook signing secret (also `shotline keys webhook-secret {info.id}`): "
              f"{store.webhook_secret(info.id)}")


@keys_app.command("webhook-secret")
def keys_webhook_secret(
    key_id: str,
    rotate: Annotated[bool, typer.Option("--rotate", help="Replace it; webhooks sign with the new one at once.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print the secret that signs a key's webhooks (Standard Webhooks `whsec_…`)."""
    from shotline.db.keys import key_id_for

    store = _key_store(data_dir)
    configured = key_id in {key_id_for(raw) for raw in _settings(data_dir=data_dir).api_keys}
    secret = store.webhook_secret(key_id, env_key=configured)
    if secret is not None and rotate:
        secret = store.rotate_webhook_secret(key_id)
    if secret is None:
        err.print(f"[red]no key {key_id}[/red]")
        raise typer.Exit(1)
    print(secret)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List keys: ids, names and limits, never the keys."""
    import datetime as dt

    from shotline.db.keys import key_id_for

    table = Table("id", "name", "rate", "max queued", "created", "revoked")
    listed = set()
    for k in _key_store(data_dir).list():
        created = dt.datetime.fromtimestamp(k.created_at_ms / 1000).isoformat(timespec="seconds")
        table.add_row(k.id, k.name, k.rate or "default", str(k.max_queued or "default"), created,
                      "yes" if k.revoked else "")
        listed.add(k.id)
    for configured in {key_id_for(raw) for raw in _settings(data_dir=data_dir).api_keys} - listed:
        table.add_row(configured, "SHOTLINE_API_KEYS", "default", "default", "", "")
    Console(width=200).print(table)


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
    from shotline.db import make_db, migrate

    settings = _settings(data_dir=data_dir)
    migrate(make_db(settings.resolved_database_url))
    err.print("database schema is up to date")
