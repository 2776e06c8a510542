"""`shotline worker`: generation workers for the celery queue (one process per GPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer
from rich.console import Console

from shotline.cli.options import (
    BrokerUrl,
    DatabaseUrl,
    DataDir,
    Engine,
    S3Bucket,
    S3Endpoint,
    StorageKind,
    build_settings,
)

err = Console(stderr=True)


def worker(
    engine: Engine = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Worker processes; each loads the engine once and runs "
                                                         "one task at a time (one per GPU).")] = 1,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    broker_url: BrokerUrl = None,
    storage: StorageKind = None,
    s3_bucket: S3Bucket = None,
    s3_endpoint_url: S3Endpoint = None,
) -> None:
    """Run generation workers that take tasks from the broker (SHOTLINE_QUEUE=celery deployments)."""
    from shotline.logs import setup_logging

    settings = build_settings(engine=engine, data_dir=data_dir, database_url=database_url, broker_url=broker_url,
                              storage=storage, s3_bucket=s3_bucket, s3_endpoint_url=s3_endpoint_url, queue="celery")
    setup_logging(settings.log_level, settings.log_format)
    if concurrency == 1:
        from shotline.queue.celery_worker import run_worker

        run_worker(settings)
        return
    # Several workers: one child process each, pinned to its own GPU when the machine has them.
    args = [a for a in sys.argv[1:] if not a.startswith("--concurrency")]
    children = []
    for i in range(concurrency):
        env = dict(os.environ)
        env.setdefault("CUDA_VISIBLE_DEVICES", str(i)) if _gpu_count() > 1 else None
        children.append(subprocess.Popen([sys.executable, "-m", "shotline", *args, "--concurrency", "1"], env=env))
    err.print(f"started {concurrency} worker processes: {[c.pid for c in children]}")

    def forward(sig: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while any(c.poll() is None for c in children):
        time.sleep(0.5)
    raise typer.Exit(max((c.returncode or 0) for c in children))


def _gpu_count() -> int:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=5)
        return len(out.stdout.strip().splitlines()) if out.returncode == 0 else 0
    except (OSError, subprocess.TimeoutExpired):
        return 0
