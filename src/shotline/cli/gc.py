"""`shotline gc`: expire old results and task rows now (workers also do it every SHOTLINE_GC_INTERVAL_S)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from shotline.cli.options import DatabaseUrl, DataDir, S3Bucket, S3Endpoint, StorageKind, build_settings

err = Console(stderr=True)


def gc(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    storage: StorageKind = None,
    s3_bucket: S3Bucket = None,
    s3_endpoint_url: S3Endpoint = None,
    ahead_s: Annotated[int, typer.Option(help="Act as if this many seconds had passed (to preview or test).")] = 0,
) -> None:
    """Delete videos older than SHOTLINE_RESULT_TTL_S and tasks older than SHOTLINE_TASK_TTL_S."""
    from shotline.db import TaskStore, make_db, migrate
    from shotline.db.connect import now_ms
    from shotline.retention import collect_garbage
    from shotline.storage import from_settings as storage_from_settings

    settings = build_settings(data_dir=data_dir, database_url=database_url, storage=storage, s3_bucket=s3_bucket,
                              s3_endpoint_url=s3_endpoint_url)
    db = make_db(settings.resolved_database_url)
    migrate(db)
    report = collect_garbage(settings, TaskStore(db), storage_from_settings(settings), now_ms=now_ms() + ahead_s * 1000)
    err.print(f"removed {report.results_deleted} expired video(s), {report.tasks_deleted} expired task(s), "
              f"{report.orphans_deleted} orphaned file(s)")
    print(json.dumps(report.as_dict()))
