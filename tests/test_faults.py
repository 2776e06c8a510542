"""Fault rounds with real processes on the scale-out backend: kill -9 a worker mid-task, kill -9 the API
between commit and send, restart Redis while tasks wait. After every round each task ends terminal,
none is lost, and none is generated to completion twice.

Redis here is a private `redis-server` on its own port (restarting the machine's shared one would hurt
everything else using it); PostgreSQL and S3 (moto) are the session's."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import CREATE, QUICK, LiveServer, settled_ended_counts, store_of
from tests.helpers.services import PrivateRedis

ROUNDS = 20


@pytest.fixture
def cluster(scale_services, tmp_path: Path):
    redis = PrivateRedis()
    redis.start()
    overrides = {**scale_services.settings_overrides(), "broker_url": redis.url}
    api = LiveServer(tmp_path / "api", overrides, workers=2, SHOTLINE_LEASE_S="4").start()
    # A second API process that dies right after committing a task, before sending its message.
    doomed_env = {k.removeprefix("SHOTLINE_").lower(): v for k, v in api.env.items()
                  if k.startswith("SHOTLINE_") and k != "SHOTLINE_PORT"}
    doomed = LiveServer(tmp_path / "doomed", doomed_env, workers=0, SHOTLINE_FAILPOINTS="after_commit=exit")
    yield api, doomed, redis
    if doomed.proc is not None:
        doomed.stop()
    api.stop()
    redis.kill()


def kill_worker_mid_task(api: LiveServer, ids: list[str], rng: random.Random) -> str:
    store = store_of(api)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = [r for r in (store.get(i) for i in ids) if r.status.value == "TASK_STATUS_PROCESSING" and r.worker_id]
        if running:
            pid = int(rng.choice(running).worker_id.split(":")[1])
            for worker in api.workers:
                if worker.pid == pid and worker.poll() is None:
                    worker.send_signal(signal.SIGKILL)
                    worker.wait(10)
                    api.ensure_workers()
                    return "worker-kill-9"
        time.sleep(0.01)
    return "worker-kill-9 (nothing was running)"


def kill_api_after_commit(doomed: LiveServer) -> str:
    doomed.start(wait_ready=False)
    try:
        doomed.client().post(CREATE, json=QUICK)
        raise AssertionError("the failpoint did not fire")
    except httpx.HTTPError:
        pass  # the process died between its commit and its send
    doomed.proc.wait(10)
    return "api-kill-after-commit"


def restart_redis(redis: PrivateRedis) -> str:
    redis.kill()
    time.sleep(0.3)
    redis.start()
    return "redis-restart"


def test_fault_rounds(cluster, tmp_path: Path) -> None:
    api, doomed, redis = cluster
    rng = random.Random(20261124)  # fixed seed: CI runs the same rounds every time
    faults: Counter = Counter()
    with api.client() as http:
        for _ in range(ROUNDS):
            ids = [http.post(CREATE, json={**QUICK, "prompt": f"round clip {i}"}).json()["task_id"] for i in range(3)]
            time.sleep(rng.uniform(0.0, 1.5))  # a random point in the tasks' lives
            choice = rng.choice(["worker", "api", "redis"])
            if choice == "worker":
                faults[kill_worker_mid_task(api, ids, rng)] += 1
            elif choice == "api":
                faults[kill_api_after_commit(doomed)] += 1
            else:
                faults[restart_redis(redis)] += 1
            wait_all_terminal(api, timeout=120)
    outcome = check_no_loss_no_double_run(api)
    report = {"rounds": ROUNDS, "faults": dict(faults), **outcome}
    print("FAULT-ROUNDS", json.dumps(report))
    Path("test-artifacts").mkdir(exist_ok=True)
    Path("test-artifacts/fault-rounds.json").write_text(json.dumps(report, indent=1))
    assert outcome["not_terminal"] == 0


def wait_all_terminal(api: LiveServer, timeout: float) -> None:
    from sqlalchemy import select

    from shotline.db.models import Task

    store = store_of(api)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.session() as s:
            open_ = s.scalars(select(Task.id).where(Task.status.in_(["TASK_STATUS_QUEUED", "TASK_STATUS_PROCESSING"])))
            if not open_.all():
                return
        time.sleep(0.2)
    raise AssertionError(f"tasks still open after {timeout} s")


def check_no_loss_no_double_run(api: LiveServer) -> dict:
    from sqlalchemy import select

    from shotline.db.models import Task

    with store_of(api).session() as s:
        rows = s.execute(select(Task.id, Task.status, Task.reason, Task.attempts)).all()
    succeeded = [r.id for r in rows if r.status == "TASK_STATUS_SUCCEED"]
    ended = settled_ended_counts(api, succeeded)
    statuses = Counter(r.status for r in rows)
    for task_id, status, reason, _attempts in rows:
        if status == "TASK_STATUS_SUCCEED":
            assert ended[task_id] == 1, (task_id, ended[task_id])
        else:
            assert ended[task_id] == 0 and status == "TASK_STATUS_FAILED" and reason, (task_id, status, reason)
    return {
        "tasks": len(rows),
        "statuses": dict(statuses),
        "not_terminal": sum(1 for r in rows if r.status in ("TASK_STATUS_QUEUED", "TASK_STATUS_PROCESSING")),
        "generated_twice": sum(1 for n in ended.values() if n > 1),
        "max_attempts_seen": max((r.attempts for r in rows), default=0),
    }
