"""Resource faults with real resources, while tasks run: the disk fills up under the mp4 (a small tmpfs
mounted on the data directory), the object store goes away (a private moto server stopped), PostgreSQL
restarts (a PRIVATE cluster made with initdb on its own port; the machine's shared one is never touched),
Redis restarts (a private redis-server). After each: every task terminal, none lost, failures carry a
sentence a user can act on, nothing half-written is served, and the API kept answering without a 500.

Each test prints a `RESOURCE-FAULT {...}` JSON line with the faults injected and the tasks lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import CREATE, QUICK, RESULT, LiveServer, store_of, wait_terminal
from tests.helpers.services import MotoServer, PrivateRedis, free_port

TERMINAL = {"TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED", "TASK_STATUS_CANCELED"}
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def report(name: str, faults: int, ids: list[str], server: LiveServer, **extra: object) -> dict:
    """Every task the API accepted must exist and be terminal; prints the JSON line."""
    store = store_of(server)
    rows = [store.get(i) for i in ids]
    lost = sum(1 for r in rows if r is None)
    open_ = sum(1 for r in rows if r is not None and r.status.value not in TERMINAL)
    out = {"fault": name, "faults_injected": faults, "tasks": len(ids), "tasks_lost": lost,
           "not_terminal": open_, "statuses": dict(Counter(r.status.value for r in rows if r)), **extra}
    print("RESOURCE-FAULT", json.dumps(out))
    assert lost == 0 and open_ == 0, out
    return out


def wait_processing(server: LiveServer, task_id: str, timeout: float = 90) -> None:
    store = store_of(server)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = store.get(task_id)
        if row.status.value == "TASK_STATUS_PROCESSING" and row.progress > 0:
            return
        assert row.status.value not in TERMINAL, row
        time.sleep(0.05)
    raise AssertionError(f"{task_id} never ran")


class Poller:
    """Asks the API while a fault lasts: every answer must be one of the contract's (never a 5xx other
    than 503 from a dependency that is down), and it must answer at all."""

    def __init__(self, http: httpx.Client, task_id: str) -> None:
        self.http, self.task_id, self.seen = http, task_id, Counter()

    def during(self, action) -> None:
        """Poll from a thread for as long as `action` runs (the outage), then a little after."""
        import threading

        done = threading.Event()
        errors: list[BaseException] = []

        def loop() -> None:
            try:
                while not done.is_set():
                    self.poll(0.2)
            except BaseException as err:
                errors.append(err)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            action()
            time.sleep(0.5)
        finally:
            done.set()
            thread.join(30)
        if errors:
            raise errors[0]

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for path, params in ((RESULT, {"task_id": self.task_id}), ("/healthz", None)):
                r = self.http.get(path, params=params)
                self.seen[r.status_code] += 1
                assert r.status_code in (200, 503), (path, r.status_code, r.text)
                if r.status_code == 503:
                    assert r.json()["reason"] == "SERVICE_UNAVAILABLE"
            time.sleep(0.1)


# -------------------------------------------------------------------------------------------- disk full


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 24 MiB tmpfs (root may mount one in this container; CI runs as root too)."""
    where = Path(tempfile.mkdtemp(prefix="shotline-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); this test needs root")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)
    shutil.rmtree(where, ignore_errors=True)


def fill(disk: Path, leave: int) -> Path:
    filler = disk / "filler.bin"
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with filler.open("wb") as f:
        chunk = b"\0" * (1 << 20)
        todo = max(0, free - leave)
        while todo > 0:
            todo -= f.write(chunk[: min(len(chunk), todo)])
    return filler


def test_disk_full_while_writing_the_mp4(small_disk: Path, tmp_path: Path) -> None:
    data = small_disk / "data"
    # The database lives elsewhere: this fault is about the video files.
    server = LiveServer(data, SHOTLINE_DATABASE_URL=f"sqlite:///{tmp_path / 'db' / 'shotline.db'}").start()
    try:
        with server.client() as http:
            warm = http.post(CREATE, json=QUICK).json()["task_id"]
            assert wait_terminal(http, warm)["task"]["status"] == "TASK_STATUS_SUCCEED"
            filler = fill(small_disk, leave=8 * 1024)
            doomed = [http.post(CREATE, json={**QUICK, "prompt": f"no room {i}"}).json()["task_id"] for i in range(2)]
            bodies = [wait_terminal(http, t) for t in doomed]
            for body in bodies:
                assert body["task"]["status"] == "TASK_STATUS_FAILED", body
                assert "disk space" in body["task"]["reason"], body["task"]["reason"]
                assert "Traceback" not in body["task"]["reason"]
                assert body["videos"] == []
            assert http.get("/healthz").status_code == 200
            # Nothing half-written is kept or served: no result, no part file, no checkpoint of them.
            leftovers = [p.name for p in data.rglob("*") if p.is_file() and any(t in p.name for t in doomed)]
            assert leftovers == [], leftovers
            filler.unlink()
            after = http.post(CREATE, json=QUICK).json()["task_id"]
            body = wait_terminal(http, after)
            assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
            video = httpx.get(body["videos"][0]["video_url"])
            assert video.status_code == 200 and video.content[4:8] == b"ftyp"
        report("disk-full", 1, [warm, *doomed, after], server, failed_with_disk_reason=len(doomed))
    finally:
        server.stop()


# ------------------------------------------------------------------------------------ storage unreachable


def test_object_store_unreachable_mid_run(scale_services, tmp_path: Path) -> None:
    moto = MotoServer()  # private: stopping it must not disturb other tests' buckets
    bucket = moto.new_bucket()
    overrides = {**scale_services.settings_overrides(), "s3_endpoint_url": moto.url, "s3_bucket": bucket}
    server = LiveServer(tmp_path / "data", overrides, workers=1, SHOTLINE_STEPS="30").start()
    ids: list[str] = []
    try:
        with server.client() as http:
            ids += [http.post(CREATE, json={**QUICK, "duration": 6, "prompt": f"store {i}"}).json()["task_id"]
                    for i in range(2)]
            wait_processing(server, ids[0])
            moto.stop()
            poller = Poller(http, ids[0])
            bodies = []
            for task_id in ids:
                while True:
                    poller.poll(0.5)
                    body = http.get(RESULT, params={"task_id": task_id}).json()
                    if body["task"]["status"] in TERMINAL:
                        bodies.append(body)
                        break
            for body in bodies:
                assert body["task"]["status"] == "TASK_STATUS_FAILED", body
                assert "result store could not be reached" in body["task"]["reason"], body["task"]["reason"]
                assert body["videos"] == []
            ready = http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["storage"] != "ok", ready.text
            # The store comes back (moto starts empty: the operator recreates the bucket); work resumes.
            moto.start()
            moto.new_bucket(bucket)
            after = http.post(CREATE, json=QUICK).json()["task_id"]
            ids.append(after)
            body = wait_terminal(http, after, timeout=180)
            assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
            assert http.get("/readyz").json()["checks"]["storage"] == "ok"
        report("storage-unreachable", 1, ids, server, answers_during_outage=dict(poller.seen))
    finally:
        server.stop()
        moto.stop()


# ----------------------------------------------------------------------------------- PostgreSQL restart


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on its own port, run as the `postgres` user."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="shotline-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data, self.port = self.root / "data", free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, *args: str) -> None:
        done = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> PrivatePostgres:
        self._pg(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._run()
        return self

    def _run(self) -> None:
        # -l: the server's output goes to a file, so pg_ctl's own pipes close when it returns.
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                 f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def restart(self, down_s: float = 1.0) -> None:
        # -m fast: every connection is cut, as in a crash or failover; then down for a moment.
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        time.sleep(down_s)
        self._run()

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def test_postgres_restarts_while_tasks_run(tmp_path: Path) -> None:
    pg = PrivatePostgres().start()
    server = LiveServer(tmp_path / "data", {"database_url": pg.url}, SHOTLINE_STEPS="20")
    try:
        server.start()
        ids: list[str] = []
        restarts = 0
        with server.client() as http:
            ids += [http.post(CREATE, json={**QUICK, "prompt": f"pg {i}"}).json()["task_id"] for i in range(4)]
            poller = Poller(http, ids[0])
            for target in ids[:2]:
                wait_processing(server, target)
                poller.during(lambda: pg.restart(down_s=2.0))
                restarts += 1
            for task_id in ids:
                body = wait_terminal(http, task_id, timeout=240)
                assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
                assert httpx.get(body["videos"][0]["video_url"]).content[4:8] == b"ftyp"
        handed_back = server.log.read_text().count("handing the task back")
        report("postgres-restart", restarts, ids, server, answers_during_outage=dict(poller.seen),
               tasks_handed_back=handed_back)
    finally:
        server.stop()
        pg.stop()


# ---------------------------------------------------------------------------------------- Redis restart


def test_redis_restarts_while_tasks_run(scale_services, tmp_path: Path) -> None:
    redis = PrivateRedis()
    redis.start()
    overrides = {**scale_services.settings_overrides(), "broker_url": redis.url}
    server = LiveServer(tmp_path / "data", overrides, workers=1, SHOTLINE_STEPS="20").start()
    try:
        ids: list[str] = []
        restarts = 0
        with server.client() as http:
            for round_ in range(2):
                ids += [http.post(CREATE, json={**QUICK, "prompt": f"redis {round_}.{i}"}).json()["task_id"]
                        for i in range(3)]
                poller = Poller(http, ids[0]) if round_ == 0 else poller
                wait_processing(server, ids[-3])
                redis.kill()
                restarts += 1
                # While the broker is down the API still takes tasks: they are durable rows, sent later.
                ids.append(http.post(CREATE, json={**QUICK, "prompt": f"while down {round_}"}).json()["task_id"])
                poller.during(lambda: time.sleep(1.0))
                redis.start()
            for task_id in ids:
                body = wait_terminal(http, task_id, timeout=240)
                assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
        report("redis-restart", restarts, ids, server, answers_during_outage=dict(poller.seen))
    finally:
        server.stop()
        redis.kill()
