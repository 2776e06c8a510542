"""The real services the scale-out backend runs on in tests: PostgreSQL and Redis as the machine runs
them (CI included), and an S3 endpoint from moto's server mode (a real HTTP server on loopback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import httpx
import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
RESTART = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect 15 main start",
    "redis": 'redis-server --daemonize yes --port 6379 --save ""',
}

# boto3 needs credentials to sign requests; moto accepts any.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "shotline-test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "shotline-test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_postgres() -> None:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except psycopg.OperationalError as err:
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({err}); start it: {RESTART['postgresql']}")


def require_redis(url: str = REDIS_URL) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as err:
        pytest.fail(f"Redis is not reachable at {url} ({err}); start it: {RESTART['redis']}")


def create_database() -> str:
    """A fresh, empty PostgreSQL database; returns its SQLAlchemy URL."""
    import psycopg

    name = f"shotline_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class MotoServer:
    """moto's S3 server mode on loopback (a real HTTP server), the one launcher every test uses. `start()`
    again after `stop()` brings it back on the same port (empty: moto keeps nothing)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/moto-api/", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def new_bucket(self, name: str | None = None) -> str:
        import boto3

        name = name or f"shotline-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=self.url).create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class PrivateRedis:
    """A redis-server of the test's own, on a free port: one a test may kill without touching the shared one."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)


@dataclass
class ScaleServices:
    """One moto server for the session; databases, buckets and queue names are made per use."""

    moto: MotoServer
    databases: list[str] = field(default_factory=list)

    def settings_overrides(self) -> dict[str, str]:
        url = create_database()
        self.databases.append(url)
        return {
            "database_url": url,
            "queue": "celery",
            "broker_url": REDIS_URL,
            "celery_queue": f"shotline-test-{uuid.uuid4().hex[:10]}",
            "storage": "s3",
            "s3_bucket": self.moto.new_bucket(),
            "s3_endpoint_url": self.moto.url,
            "redispatch_s": "1.0",
        }

    def close(self) -> None:
        for url in self.databases:
            drop_database(url)
        self.moto.stop()
