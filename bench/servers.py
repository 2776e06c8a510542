"""Servers the API and scaling benchmarks run against, each in its own processes on loopback:

- `Shotline`: `python -m shotline serve` (and, on the Celery backend, `shotline worker` processes), in a temp
  data dir; on PostgreSQL in a private database, on Redis under a private queue name, both removed afterwards
  (as tests/helpers/services.py does: the services are shared, so nothing else is touched, never a FLUSH);
- `Bare`: a bare FastAPI app (bench/bare_app.py) answering the same JSON, started by uvicorn the same way.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, child_env, free_port

KEY = "bench-key"
NOOP = "bench.noop_engine:NoopEngine"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_S = 120


class _Processes:
    """Processes started in their own session, stopped by SIGTERM (then SIGKILL), and only those."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def spawn(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def wait_for(self, path: str, ok: Any = None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{' '.join(map(str, dead[0].args))} exited with {dead[0].returncode}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200 and (ok is None or ok()):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.url}{path} not ready after {START_TIMEOUT_S} s")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


class Shotline(_Processes):
    """`backend`: "sqlite" (the embedded default: SQLite, in-process queue) or "postgresql" (the scale-out
    backend: PostgreSQL, Celery on Redis). `workers`: 0 runs the API alone (no task ever starts: what an API
    benchmark wants), n > 0 runs n worker processes (embedded: its one child worker)."""

    def __init__(self, backend: str, *, workers: int = 0, engine: str = NOOP, **settings: str) -> None:
        super().__init__()
        self.backend, self.workers = backend, workers
        self.data_dir = Path(tempfile.mkdtemp(prefix="shotline-bench-"))
        self.db_name: str | None = None
        self.celery_queue: str | None = None
        env = {"SHOTLINE_DATA_DIR": str(self.data_dir), "SHOTLINE_API_KEYS": KEY, "SHOTLINE_ENGINE": engine,
               "SHOTLINE_PORT": str(self.port), "SHOTLINE_LOG_LEVEL": "WARNING", "SHOTLINE_POLL_S": "0.05",
               "SHOTLINE_MAX_QUEUED_PER_KEY": "1000000"}
        if backend == "sqlite":
            env["SHOTLINE_EMBEDDED_WORKER"] = "true" if workers else "false"
        elif backend == "postgresql":
            self.db_name = f"shotline_bench_{uuid.uuid4().hex[:10]}"
            self.celery_queue = f"shotline-bench-{uuid.uuid4().hex[:10]}"
            env.update(SHOTLINE_QUEUE="celery", SHOTLINE_BROKER_URL=REDIS_URL,
                       SHOTLINE_CELERY_QUEUE=self.celery_queue, SHOTLINE_DATABASE_URL=self.database_url)
        else:
            raise ValueError(f"backend {backend!r}: sqlite or postgresql")
        env.update({f"SHOTLINE_{k.upper()}": str(v) for k, v in settings.items()})
        self.env = child_env(**env)

    @property
    def database_url(self) -> str:
        if self.db_name:
            return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.db_name}"
        return f"sqlite:///{self.data_dir / 'shotline.db'}"

    def __enter__(self) -> Shotline:
        try:
            if self.db_name:
                import psycopg

                with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'CREATE DATABASE "{self.db_name}"')
            self.api = self.spawn([sys.executable, "-m", "shotline", "serve"], self.env)
            if self.backend == "postgresql":
                self.wait_for("/healthz")  # the API migrates the database before workers look at it
                self.worker_procs = [self.spawn([sys.executable, "-m", "shotline", "worker"], self.env)
                                     for _ in range(self.workers)]
            self.wait_for("/readyz" if self.workers else "/healthz", ok=self._workers_ready)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _workers_ready(self) -> bool:
        if not self.workers:
            return True
        from shotline.db import WorkerRegistry, make_db

        db = make_db(self.database_url)
        try:
            ready = [w for w in WorkerRegistry(db).live(max_age_s=30) if w.state == "ready"]
        finally:
            db.dispose()
        return len(ready) >= self.workers

    def __exit__(self, *_exc: object) -> None:
        self.stop()
        if self.celery_queue:
            import redis

            # Only this run's own keys: the queue, and kombu's bindings for it.
            client = redis.Redis.from_url(REDIS_URL)
            client.delete(self.celery_queue, f"_kombu.binding.{self.celery_queue}")
            client.close()
        if self.db_name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def store(self):
        from shotline.db import TaskStore, make_db

        return TaskStore(make_db(self.database_url))


class Bare(_Processes):
    """bench/bare_app.py: the same JSON from routes that do nothing else, served the way `shotline serve`
    serves (uvicorn.run with the same options, the same GIL switch interval)."""

    def __init__(self, responses: dict[str, Any]) -> None:
        super().__init__()
        self.env = child_env(BENCH_BARE_RESPONSES=json.dumps(responses), BENCH_BARE_PORT=str(self.port))

    def __enter__(self) -> Bare:
        try:
            self.spawn([sys.executable, "-m", "bench.bare_app"], self.env)
            self.wait_for("/healthz")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def pids_of(server: _Processes) -> list[int]:
    return [p.pid for p in server.procs]


def postgres_available() -> str | None:
    """None if PostgreSQL and Redis answer on their usual ports, else why not."""
    try:
        import psycopg
        import redis

        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as err:
        return f"PostgreSQL at 127.0.0.1:5432 or Redis at 127.0.0.1:6379 not reachable ({type(err).__name__})"
    return None

