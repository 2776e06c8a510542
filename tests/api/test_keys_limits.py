"""API keys from the command line (create, list, revoke; stored hashed, shown once), revocation that holds
at once in API processes already running, per-key rate limits (429 with Retry-After, nothing queued; counts
shared through Redis between API processes of the scale-out backend) and per-key queue quotas."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from shotline.config import Settings
from tests.helpers.api import OK, assert_error, task_count
from tests.helpers.server import AUTH_A, AUTH_B, CREATE, RESULT, LiveServer

SHOTLINE = Path(sys.executable).parent / "shotline"


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOTLINE_DATA_DIR": str(data_dir)}
    env.pop("SHOTLINE_DATABASE_URL", None)
    return subprocess.run([str(SHOTLINE), "keys", *args], env=env, capture_output=True, text=True, timeout=60)


def create_key(data_dir: Path, *args: str) -> tuple[str, str]:
    """(key id, raw key) of a key made by `shotline keys create`."""
    out = cli(data_dir, "create", *args)
    assert out.returncode == 0, out.stderr
    raw = out.stdout.strip()
    key_id = next(word for word in out.stderr.split() if word.startswith("key_"))
    return key_id, raw


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_creates_lists_and_revokes_keys_stored_only_as_hashes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = cli(data, "create", "--name", "ci-bot", "--rate", "60/min", "--max-queued", "7")
    assert out.returncode == 0, out.stderr
    raw = out.stdout.strip()
    # Printed once, alone on stdout.
    assert raw.startswith("sk-shotline-") and len(raw) > 40 and "\n" not in raw
    assert raw not in out.stderr
    key_id = next(word for word in out.stderr.split() if word.startswith("key_"))
    other_id, _ = create_key(data, "--name", "plain")

    listing = cli(data, "list")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split("│")[1].strip(): line for line in listing.stdout.splitlines() if "key_" in line}
    assert set(rows) == {key_id, other_id}
    assert "ci-bot" in rows[key_id] and "60/minute" in rows[key_id] and " 7 " in rows[key_id]
    assert "default" in rows[other_id]
    assert raw not in listing.stdout

    # The raw key is in no file of the data directory (database, WAL, anything); its sha256 is.
    stored = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert raw.encode() not in stored
    assert hashlib.sha256(raw.encode()).hexdigest().encode() in stored

    assert cli(data, "revoke", key_id).returncode == 0
    again = cli(data, "revoke", key_id)
    assert again.returncode == 1 and "no live key" in again.stderr
    revoked = next(line for line in cli(data, "list").stdout.splitlines() if key_id in line)
    assert "yes" in revoked


@pytest.mark.parametrize("rate", ["5/fortnight", "lots", "-1/min", "0/min"])
def test_cli_refuses_a_bad_rate(tmp_path: Path, rate: str) -> None:
    out = cli(tmp_path / "data", "create", "--rate", rate)
    assert out.returncode == 2 and "--rate" in out.stderr and out.stdout == ""


@pytest.mark.parametrize(("given", "stored"), [("5/s", "5/second"), ("60/min", "60/minute"),
                                               ("500/h", "500/hour"), ("10 per hour", "10/hour")])
def test_cli_rate_units(tmp_path: Path, given: str, stored: str) -> None:
    data = tmp_path / "data"
    key_id, _ = create_key(data, "--rate", given)
    assert stored in next(line for line in cli(data, "list").stdout.splitlines() if key_id in line)


# ----------------------------------------------------------------------------------------- revocation


@pytest.fixture
def two_api_processes(tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two `shotline serve` processes on one database (no workers: tasks stay queued)."""
    data = tmp_path / "data"
    servers = [LiveServer(data, SHOTLINE_EMBEDDED_WORKER="false") for _ in range(2)]
    try:
        for server in servers:
            server.start(wait_ready=False)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def test_revocation_holds_at_once_in_every_running_api_process(two_api_processes) -> None:
    one, two = two_api_processes
    key_id, raw = create_key(one.data_dir, "--name", "soon-revoked")  # made after both servers started
    for server in (one, two):
        with server.client(bearer(raw)) as http:
            assert http.post(CREATE, json=OK).status_code == 200
    assert cli(one.data_dir, "revoke", key_id).returncode == 0
    for server in (one, two):
        with server.client(bearer(raw)) as http:
            assert_error(http.post(CREATE, json=OK), 401, "UNAUTHORIZED", "Authorization")
            assert_error(http.get(RESULT, params={"task_id": "x"}), 401, "UNAUTHORIZED", "Authorization")
    with sqlite3.connect(one.data_dir / "shotline.db") as db:
        assert db.execute("SELECT count(*) FROM tasks WHERE owner = ?", (key_id,)).fetchone() == (2,)
    with one.client(AUTH_A) as http:  # the other keys carry on
        assert http.post(CREATE, json=OK).status_code == 200


# ------------------------------------------------------------------------------------------ rate limits


def apps(settings: Settings, n: int = 1, **changes: object) -> tuple[ExitStack, list[TestClient]]:
    """`n` API apps on the same settings (one database; on the scale backend, one Redis namespace)."""
    stack = ExitStack()
    from shotline.api.app import create_app

    changed = settings.model_copy(update=changes)
    return stack, [stack.enter_context(TestClient(create_app(changed))) for _ in range(n)]


def assert_rate_limited(response: httpx.Response, window_s: int) -> dict:
    body = assert_error(response, 429, "RATE_LIMITED", None)
    assert 1 <= int(response.headers["Retry-After"]) <= window_s
    return body


def test_the_default_rate_limits_creates_per_key_and_queues_nothing(settings: Settings) -> None:
    stack, (client,) = apps(settings, rate_limit="3/min")
    with stack:
        for _ in range(3):
            assert client.post(CREATE, json=OK, headers=AUTH_A).status_code == 200
        before = task_count(client)
        body = assert_rate_limited(client.post(CREATE, json=OK, headers=AUTH_A), 60)
        assert "3 task creations per minute" in body["message"]
        assert task_count(client) == before
        # Reading is not creating; other keys have their own count; an invalid create is refused for what
        # it is (400) and uses none of the allowance.
        assert client.get("/v3/async/tasks", headers=AUTH_A).status_code == 200
        assert client.post(CREATE, json=OK, headers=AUTH_B).status_code == 200
        for _ in range(3):
            assert_error(client.post(CREATE, json={**OK, "duration": 99}, headers=AUTH_B), 400,
                         "INVALID_REQUEST_BODY", "duration")
        assert all(client.post(CREATE, json=OK, headers=AUTH_B).status_code == 200 for _ in range(2))
        assert_rate_limited(client.post(CREATE, json=OK, headers=AUTH_B), 60)


def test_without_a_rate_setting_nothing_is_limited(settings: Settings) -> None:
    stack, (client,) = apps(settings, rate_limit="")
    with stack:
        assert all(client.post(CREATE, json=OK, headers=AUTH_A).status_code == 200 for _ in range(12))


def test_a_keys_own_rate_wins_over_the_default(settings: Settings) -> None:
    stack, (client,) = apps(settings, rate_limit="100/min")
    with stack:
        keys = client.app.state.service.keys
        _, slow = keys.create("slow", rate="2/hour")
        for _ in range(2):
            assert client.post(CREATE, json=OK, headers=bearer(slow)).status_code == 200
        before = task_count(client)
        body = assert_rate_limited(client.post(CREATE, json=OK, headers=bearer(slow)), 3600)
        assert "2 task creations per hour" in body["message"]
        assert task_count(client) == before
        _, legacy = keys.create("legacy", rate_per_min=1)  # keys made with the per-minute column
        assert client.post(CREATE, json=OK, headers=bearer(legacy)).status_code == 200
        assert_rate_limited(client.post(CREATE, json=OK, headers=bearer(legacy)), 60)


def test_the_request_rate_bounds_polling(settings: Settings) -> None:
    stack, (client,) = apps(settings, request_rate_limit="4/min")
    with stack:
        task_id = client.post(CREATE, json=OK, headers=AUTH_A).json()["task_id"]  # request 1
        for _ in range(3):
            assert client.get(RESULT, params={"task_id": task_id}, headers=AUTH_A).status_code == 200
        assert_rate_limited(client.get(RESULT, params={"task_id": task_id}, headers=AUTH_A), 60)
        before = task_count(client)
        assert_rate_limited(client.post(CREATE, json=OK, headers=AUTH_A), 60)
        assert task_count(client) == before
        # B has its own count (its answer is B's: another key's task is not found).
        assert client.get(RESULT, params={"task_id": task_id}, headers=AUTH_B).status_code == 404


def test_scale_out_api_processes_share_one_count_in_redis(request: pytest.FixtureRequest,
                                                          tmp_path: Path) -> None:
    from tests.helpers.backends import backend_overrides
    from tests.helpers.server import KEY_A, KEY_B

    settings = Settings(data_dir=tmp_path / "data", api_keys=[KEY_A, KEY_B], embedded_worker=False,
                        _env_file=None, **backend_overrides(request, "scale"))
    stack, (one, two) = apps(settings, 2, rate_limit="3/min")
    with stack:
        assert type(one.app.state.service.limiter.storage).__name__ == "RedisStorage"
        assert one.post(CREATE, json=OK, headers=AUTH_A).status_code == 200
        assert two.post(CREATE, json=OK, headers=AUTH_A).status_code == 200
        assert one.post(CREATE, json=OK, headers=AUTH_A).status_code == 200
        before = task_count(one)
        assert_rate_limited(two.post(CREATE, json=OK, headers=AUTH_A), 60)
        assert_rate_limited(one.post(CREATE, json=OK, headers=AUTH_A), 60)
        assert task_count(one) == before


def test_embedded_counts_in_memory(settings: Settings) -> None:
    stack, (client,) = apps(settings, rate_limit="3/min")
    with stack:
        storage = type(client.app.state.service.limiter.storage).__name__
        assert storage == ("MemoryStorage" if settings.queue == "inprocess" else "RedisStorage")


def test_an_unreachable_counter_store_lets_requests_through(settings: Settings) -> None:
    from tests.helpers.services import free_port

    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    stack, (client,) = apps(settings, rate_limit="1/min", rate_limit_storage=nowhere)
    with stack:
        assert type(client.app.state.service.limiter.storage).__name__ == "RedisStorage"
        assert all(client.post(CREATE, json=OK, headers=AUTH_A).status_code == 200 for _ in range(3))


@pytest.mark.parametrize("bad", ["fast", "3/fortnight"])
def test_a_bad_rate_setting_stops_the_start(settings: Settings, bad: str) -> None:
    from shotline.api.app import create_app

    with pytest.raises(ValueError, match="N/s, N/min or N/h"):
        create_app(settings.model_copy(update={"rate_limit": bad}))


# ---------------------------------------------------------------------------------------- queue quotas


def test_a_keys_max_queued_overrides_the_server_default(settings: Settings) -> None:
    stack, (client,) = apps(settings, max_queued_per_key=3)
    with stack:
        keys = client.app.state.service.keys
        _, small = keys.create("small", max_queued=1)
        _, large = keys.create("large", max_queued=5)
        assert client.post(CREATE, json=OK, headers=bearer(small)).status_code == 200
        before = task_count(client)
        r = client.post(CREATE, json=OK, headers=bearer(small))
        body = assert_error(r, 429, "RATE_LIMITED", None)
        assert body["metadata"]["limit"] == 1 and int(r.headers["Retry-After"]) >= 1
        assert task_count(client) == before
        assert all(client.post(CREATE, json=OK, headers=bearer(large)).status_code == 200 for _ in range(5))
        assert_error(client.post(CREATE, json=OK, headers=bearer(large)), 429, "RATE_LIMITED", None)
        # Keys without their own quota get the server's.
        assert all(client.post(CREATE, json=OK, headers=AUTH_A).status_code == 200 for _ in range(3))
        assert client.post(CREATE, json=OK, headers=AUTH_A).json()["metadata"]["limit"] == 3
