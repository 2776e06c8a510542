"""`shotline keys` and `shotline db`: run on the server's machine, against its database (the same
--data-dir or --database-url as `shotline serve`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shotline.cli.options import DatabaseUrl, DataDir, build_settings

keys_app = typer.Typer(help="API keys (stored hashed; shown once at creation).", no_args_is_help=True,
                       rich_markup_mode=None)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True, rich_markup_mode=None)
err = Console(stderr=True, highlight=False)
KeyId = Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's id, from `shotline keys list`.")]


def _key_store(data_dir: Path | None, database_url: str | None):
    from shotline.db import KeyStore, make_db, migrate

    settings = build_settings(data_dir=data_dir, database_url=database_url)
    db = make_db(settings.resolved_database_url)
    migrate(db)
    return KeyStore(db)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(metavar="LABEL", help="A label for the key.")] = "",
    rate: Annotated[str | None, typer.Option(
        metavar="RATE",
        help="Task creations this key may make, e.g. 60/min, 5/s, 500/h (default: SHOTLINE_RATE_LIMIT).",
    )] = None,
    max_queued: Annotated[int | None, typer.Option(
        min=1, metavar="N",
        help="Tasks this key may have queued or running at once (default: SHOTLINE_MAX_QUEUED_PER_KEY).",
    )] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
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
    store = _key_store(data_dir, database_url)
    info, raw = store.create(name, rate=normalized, max_queued=max_queued)
    err.print(f"Created key [bold]{info.id}[/bold] {name!r} (rate {info.rate or 'server default'}, "
              f"max queued {info.max_queued or 'server default'}). It is shown once; store it now:")
    print(raw)
    err.print(f"Its webhook signing secret (also `shotline keys webhook-secret {info.id}`): "
              f"{store.webhook_secret(info.id)}")


@keys_app.command("webhook-secret")
def keys_webhook_secret(
    key_id: KeyId,
    rotate: Annotated[bool, typer.Option(
        "--rotate", help="Replace it; webhooks sign with the new one at once.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the secret that signs a key's webhooks (Standard Webhooks `whsec_…`)."""
    from shotline.db.keys import key_id_for

    store = _key_store(data_dir, database_url)
    configured = key_id in {key_id_for(raw) for raw in build_settings(data_dir=data_dir).api_keys}
    secret = store.webhook_secret(key_id, env_key=configured)
    if secret is not None and rotate:
        secret = store.rotate_webhook_secret(key_id)
    if secret is None:
        err.print(f"[red]no key {key_id}[/red]")
        raise typer.Exit(1)
    print(secret)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List keys: ids, names and limits, never the keys."""
    import datetime as dt

    from shotline.db.keys import key_id_for

    table = Table("id", "name", "rate", "max queued", "created", "revoked")
    listed = set()
    for k in _key_store(data_dir, database_url).list():
        created = dt.datetime.fromtimestamp(k.created_at_ms / 1000).isoformat(timespec="seconds")
        table.add_row(k.id, k.name, k.rate or "default", str(k.max_queued or "default"), created,
                      "yes" if k.revoked else "")
        listed.add(k.id)
    for configured in {key_id_for(raw) for raw in build_settings(data_dir=data_dir).api_keys} - listed:
        table.add_row(configured, "SHOTLINE_API_KEYS", "default", "default", "", "")
    Console(width=200).print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: KeyId, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Revoke a key by id; requests with it get 401 at once."""
    if not _key_store(data_dir, database_url).revoke(key_id):
        err.print(f"[red]no live key {key_id}[/red]")
        raise typer.Exit(1)
    err.print(f"revoked {key_id}")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Bring the database schema to the latest migration (also done on every start)."""
    from shotline.db import make_db, migrate

    settings = build_settings(data_dir=data_dir, database_url=database_url)
    migrate(make_db(settings.resolved_database_url))
    err.print("database schema is up to date")
