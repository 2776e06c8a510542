"""Queue throughput and worker busy ratio, embedded and Celery backends (issue: scale-out).

- tasks/s from submit to SUCCEED through a real server with the no-op engine, against the same worker
  code running the same tasks straight from the store in one loop (no API, no queue) as the baseline;
- worker busy ratio: with 20 tiny-engine tasks queued at once, the seconds the worker spent running tasks
  over the wall seconds from the first start to the last finish (target ≥ 0.97);
- submit latency p50/p99 at 200 requests/s on loopback (target p99 < 25 ms).

Run: `python -m bench.queue_throughput` from the repo root (needs PostgreSQL and Redis for the Celery
backend, as on the development machines).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, figure, quick
from bench.servers import KEY, NOOP, Shotline

CREATE = "/v3/async/kling-v3.0-pro-t2v"
BODY = {"prompt": "bench", "duration": 3, "aspect_ratio": "1:1"}
# The two backends, as bench/servers.py names them: the embedded default and the Celery scale-out.
BACKENDS = {"inprocess": "sqlite", "celery": "postgresql"}


def deployment(backend: str, engine: str, workers: int = 1) -> Shotline:
    """A `shotline serve` (+ `shotline worker` processes for Celery) in a temp data dir (bench/servers.py)."""
    return Shotline(BACKENDS[backend], workers=workers, engine=engine)


async def _post_all(url: str, n: int, rate: float | None) -> list[float]:
    """Submit n tasks (open loop at `rate` per second, or as fast as 32 connections allow); latencies in ms."""
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as client:
        gate = asyncio.Semaphore(32 if rate is None else 64)

        async def one() -> None:
            async with gate:
                for attempt in range(3):
                    t0 = time.perf_counter()
                    try:
                        r = await client.post(CREATE, json=BODY)
                    except httpx.TransportError:
                        # A keep-alive connection the server closed as it was reused (seen under heavy
                        # load): timed as a slow request, and sent again so that n tasks exist.
                        latencies.append((time.perf_counter() - t0) * 1000)
                        if attempt == 2:
                            raise
                        continue
                    latencies.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                    return

        tasks = []
        start = time.perf_counter()
        for i in range(n):
            if rate is not None:
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies


def _wait_done(store: Any, n: int, timeout: float = 600) -> None:
    from sqlalchemy import func, select

    from shotline.db.models import Task

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.session() as s:
            done = s.scalar(select(func.count()).select_from(Task).where(Task.status == "TASK_STATUS_SUCCEED"))
        if done >= n:
            return
        time.sleep(0.05)
    raise RuntimeError("tasks did not finish")


def _runs(store: Any) -> list[tuple[int, int]]:
    from sqlalchemy import select

    from shotline.db.models import Task

    with store.session() as s:
        return [(a, b) for a, b in s.execute(select(Task.started_at_ms, Task.finished_at_ms)).all()]


def direct_tasks_per_second(n: int) -> float:
    """The baseline: the same worker code and engine, tasks taken straight from the store, no API or queue."""
    sys.path.insert(0, str(ROOT))
    from bench.noop_engine import NoopEngine
    from shotline.config import Settings
    from shotline.db import NewTask
    from shotline.protocol.kling import CreateTaskRequest
    from shotline.worker import Worker

    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="shotline-bench-direct-")), _env_file=None)
    worker = Worker(settings, engine=NoopEngine())
    request = CreateTaskRequest.model_validate(BODY).normalized()
    for _ in range(n):
        worker.tasks.create(NewTask(owner="k", request=request, engine="noop", seed=1, request_hash="h"))
    t0 = time.perf_counter()
    while worker.run_one() is not None:
        pass
    return n / (time.perf_counter() - t0)


def throughput(backend: str, n: int) -> dict[str, Any]:
    with deployment(backend, NOOP) as dep:
        t0 = time.perf_counter()
        asyncio.run(_post_all(dep.url, n, rate=None))
        _wait_done(dep.store(), n)
        return {"tasks_per_s": n / (time.perf_counter() - t0)}


def busy_ratio(backend: str, n: int = 20) -> float:
    with deployment(backend, "tiny") as dep:
        asyncio.run(_post_all(dep.url, n, rate=None))
        _wait_done(dep.store(), n)
        runs = _runs(dep.store())
    busy = sum(b - a for a, b in runs)
    wall = max(b for _, b in runs) - min(a for a, _ in runs)
    return busy / wall


def submit_latency(backend: str, rate: float, seconds: float) -> dict[str, float]:
    with deployment(backend, NOOP, workers=0 if backend == "celery" else 1) as dep:
        latencies = asyncio.run(_post_all(dep.url, int(rate * seconds), rate=rate))
    latencies.sort()
    return {"p50": statistics.median(latencies), "p99": latencies[int(len(latencies) * 0.99) - 1]}


def run() -> list[dict[str, Any]]:
    n = 20 if quick() else 100
    lines: list[dict[str, Any]] = []
    baseline = direct_tasks_per_second(n)
    for backend in BACKENDS:
        tps = throughput(backend, n)["tasks_per_s"]
        lines.append(figure(f"queue_throughput_{backend}", tps, "tasks/s", target=None, baseline_value=baseline,
                            baseline="worker loop on the store, no API or queue"))
        ratio = busy_ratio(backend, 8 if quick() else 20)
        lines.append(figure(f"worker_busy_ratio_{backend}", ratio, "busy s / wall s", baseline="always busy",
                            baseline_value=1.0, target=">= 0.97"))
        lat = submit_latency(backend, rate=200, seconds=1 if quick() else 5)
        lines.append(figure(f"submit_p99_at_200rps_{backend}", lat["p99"], "ms", baseline="target",
                            baseline_value=25.0, target="< 25 ms", p50=round(lat["p50"], 2)))
    return lines


if __name__ == "__main__":
    for line in run():
        print(json.dumps(line))
