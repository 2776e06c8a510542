"""`shotline gc`: expire old results and task rows now (workers also do it every SHOTLINE_GC_INTERVAL_S)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from shotline.cli.options import DatabaseUrl, DataDir, S3Bucket, S3Endpoint, StorageKind, build_settings

err = Console(stderr=True, highlight=False)


def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be deleted; delete nothing.")] = False,
    ahead_s: Annotated[int, typer.Option(min=0, metavar="SECONDS", help=(
        "Act as if this many seconds had passed; with --dry-run, a preview of what will go by then."))] = 0,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    storage: StorageKind = None,
    s3_bucket: S3Bucket = None,
    s3_endpoint_url: S3Endpoint = None,
) -> None:
    """Delete videos older than SHOTLINE_RESULT_TTL_S and tasks older than SHOTLINE_TASK_TTL_S.

    Prints a summary on stderr and the counts (or, with --dry-run, the task ids and files) as JSON on stdout."""
    from shotline.db import TaskStore, make_db, migrate
    from shotline.db.connect import now_ms
    from shotline.retention import collect_garbage, preview_garbage
    from shotline.storage import from_settings as storage_from_settings

    settings = build_settings(data_dir=data_dir, database_url=database_url, storage=storage, s3_bucket=s3_bucket,
                              s3_endpoint_url=s3_endpoint_url)
    db = make_db(settings.resolved_database_url)
    migrate(db)
    store, files, when = TaskStore(db), storage_from_settings(settings), now_ms() + ahead_s * 1000
    if dry_run:
        preview = preview_garbage(settings, store, files, now_ms=when)
        later = f" in {ahead_s} s" if ahead_s else ""
        err.print(f"would remove{later}: {len(preview.results)} video(s), {len(preview.tasks)} task(s), "
                  f"{len(preview.orphans)} orphaned file(s); nothing was deleted (--dry-run)")
        for label, items in (("video of task", preview.results), ("task", preview.tasks),
                             ("orphaned file", preview.orphans)):
            for item in items:
                err.print(f"  {label} {item}", soft_wrap=True)
        print(json.dumps({"dry_run": True, **preview.as_dict()}))
        return
    report = collect_garbage(settings, store, files, now_ms=when)
    err.print(f"removed {report.results_deleted} expired video(s), {report.tasks_deleted} expired task(s), "
              f"{report.orphans_deleted} orphaned file(s)")
    print(json.dumps(report.as_dict()))
