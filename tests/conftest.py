"""Shared fixtures (only fixtures: helpers live in tests/helpers/): settings in a temp data dir, an
in-process app without a worker (fast contract tests), and real `shotline serve` processes with their
worker (end-to-end, restarts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shotline.config import Settings
from tests.helpers.backends import BACKENDS, backend_overrides
from tests.helpers.idle import start_idle_server
from tests.helpers.server import KEY_A, KEY_B, LiveServer
from tests.helpers.services import ScaleServices, require_postgres, require_redis


@pytest.fixture(scope="session")
def scale_services() -> Iterator[ScaleServices]:
    """PostgreSQL + Redis (checked, with the command to start them if down) + a moto S3 server."""
    from tests.helpers.services import MotoServer

    require_postgres()
    require_redis()
    services = ScaleServices(MotoServer())
    yield services
    services.close()


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Embedded (SQLite, in-process queue, local files) and scale-out (PostgreSQL, Celery on Redis, S3)."""
    return Settings(data_dir=tmp_path / "data", api_keys=[KEY_A, KEY_B], embedded_worker=False, _env_file=None,
                    **backend_overrides(request, request.param))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app with no worker: tasks stay QUEUED, which is what contract tests want."""
    from shotline.api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The embedded default as a user runs it."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def backend_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on each backend: embedded, and API + `shotline worker` processes on PostgreSQL,
    Redis and S3."""
    overrides = backend_overrides(request, request.param)
    server = LiveServer(tmp_path_factory.mktemp(f"live-{request.param}") / "data", overrides).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_idle_server(tmp_path_factory.mktemp("idle") / "data")
    yield server
    server.stop()
