"""Keys (§1: 401), isolation (§2: another key's task is the same 404 as no task), idempotency (§1), and
the task-result shape (§2) for a queued task."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.helpers.api import OK, assert_error, task_count
from tests.helpers.server import AUTH_A, AUTH_B, CREATE, RESULT


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "test-key-a"}, {"Authorization": "Basic dGVzdA=="},
     {"Authorization": "Bearer "}, {"Authorization": "Bearer test-key-a-but-longer"}],
    ids=["missing", "unknown", "no-scheme", "basic", "empty", "prefix"],
)
def test_missing_or_wrong_key_is_401_and_queues_nothing(client: TestClient, headers: dict) -> None:
    before = task_count(client)
    assert_error(client.post(CREATE, json=OK, headers=headers), 401, "UNAUTHORIZED", "Authorization")
    assert_error(client.get(RESULT, params={"task_id": "x"}, headers=headers), 401, "UNAUTHORIZED", "Authorization")
    assert task_count(client) == before


def test_two_keys_cannot_read_each_others_tasks(client: TestClient) -> None:
    a = client.post(CREATE, json=OK, headers=AUTH_A).json()["task_id"]
    b = client.post(CREATE, json=OK, headers=AUTH_B).json()["task_id"]
    assert client.get(RESULT, params={"task_id": a}, headers=AUTH_A).status_code == 200
    assert client.get(RESULT, params={"task_id": b}, headers=AUTH_B).status_code == 200
    other = client.get(RESULT, params={"task_id": b}, headers=AUTH_A)
    missing = client.get(RESULT, params={"task_id": "00000000-0000-4000-8000-000000000000"}, headers=AUTH_A)
    assert_error(other, 404, "NOT_FOUND", "task_id")
    assert other.json() == missing.json()  # the same answer: nothing leaks about other keys' tasks
    assert_error(client.get(RESULT, params={"task_id": a}, headers=AUTH_B), 404, "NOT_FOUND", "task_id")


@pytest.mark.parametrize("task_id", ["../x", "..%2F..%2Fetc%2Fpasswd", "/etc/passwd", "x" * 5000, "a b"])
def test_odd_task_ids_are_404(client: TestClient, task_id: str) -> None:
    assert_error(client.get(RESULT, params={"task_id": task_id}, headers=AUTH_A), 404, "NOT_FOUND", "task_id")


def test_missing_task_id_is_400(client: TestClient) -> None:
    assert_error(client.get(RESULT, headers=AUTH_A), 400, "INVALID_REQUEST_BODY", "task_id")


def test_database_keys_work_and_revocation_is_immediate(client: TestClient) -> None:
    keys = client.app.state.service.keys
    info, raw = keys.create("ci")
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.post(CREATE, json=OK, headers=headers).status_code == 200
    assert keys.revoke(info.id)
    assert_error(client.post(CREATE, json=OK, headers=headers), 401, "UNAUTHORIZED", "Authorization")


def test_keys_are_stored_hashed(client: TestClient) -> None:
    from sqlalchemy import select

    from shotline.db.models import ApiKey

    service = client.app.state.service
    _, raw = service.keys.create("hashed")
    with service.tasks.session() as s:
        rows = s.execute(select(ApiKey)).scalars().all()
    stored = [str(getattr(r, c.name)) for r in rows for c in ApiKey.__table__.columns]
    assert rows and not any(raw in value for value in stored)
    db_file = client.app.state.settings.data_dir / "shotline.db"
    for path in db_file.parent.glob("shotline.db*"):  # the embedded SQLite files, byte for byte
        assert raw.encode() not in path.read_bytes()


def test_queued_result_shape(client: TestClient) -> None:
    task_id = client.post(CREATE, json={**OK, "extra": {"seed": 123}}, headers=AUTH_A).json()["task_id"]
    body = client.get(RESULT, params={"task_id": task_id}, headers=AUTH_A).json()
    assert set(body) == {"task", "videos", "audios", "images", "extra"}
    task = body["task"]
    assert task == {"task_id": task_id, "task_type": "KLING_V3_PRO_T2V", "status": "TASK_STATUS_QUEUED",
                    "reason": "", "eta": task["eta"], "progress_percent": 0}
    assert isinstance(task["eta"], int) and task["eta"] > 0
    assert body["videos"] == [] and body["audios"] == [] and body["images"] == []
    assert body["extra"]["seed"] == "123"
    assert body["extra"]["debug_info"]["submit_time_ms"].isdigit()
    assert body["extra"]["debug_info"]["execute_time_ms"] == ""
    assert body["extra"]["engine"] == "tiny" and "noise" in body["extra"]["notice"]


def test_random_seed_is_chosen_and_reported(client: TestClient) -> None:
    seeds = set()
    for _ in range(3):
        task_id = client.post(CREATE, json=OK, headers=AUTH_A).json()["task_id"]
        seeds.add(client.get(RESULT, params={"task_id": task_id}, headers=AUTH_A).json()["extra"]["seed"])
    assert len(seeds) == 3 and all(s.isdigit() for s in seeds)


class TestIdempotency:
    def test_same_key_same_body_same_task(self, client: TestClient) -> None:
        h = {**AUTH_A, "Idempotency-Key": "order-42"}
        first = client.post(CREATE, json=OK, headers=h).json()["task_id"]
        count = task_count(client)
        assert client.post(CREATE, json=OK, headers=h).json()["task_id"] == first
        assert task_count(client) == count

    def test_same_key_other_body_is_409(self, client: TestClient) -> None:
        h = {**AUTH_A, "Idempotency-Key": "order-43"}
        client.post(CREATE, json=OK, headers=h)
        count = task_count(client)
        assert_error(client.post(CREATE, json={**OK, "duration": 6}, headers=h), 409, "CONFLICT", "Idempotency-Key")
        assert task_count(client) == count

    def test_keys_are_per_api_key(self, client: TestClient) -> None:
        a = client.post(CREATE, json=OK, headers={**AUTH_A, "Idempotency-Key": "k"}).json()["task_id"]
        b = client.post(CREATE, json=OK, headers={**AUTH_B, "Idempotency-Key": "k"}).json()["task_id"]
        assert a != b

    def test_expired_key_makes_a_new_task(self, client: TestClient) -> None:
        from sqlalchemy import update

        from shotline.db.models import Task

        h = {**AUTH_A, "Idempotency-Key": "old"}
        first = client.post(CREATE, json=OK, headers=h).json()["task_id"]
        with client.app.state.service.tasks.session() as s:  # age the task past the 24 h window
            s.execute(update(Task).where(Task.id == first).values(created_at_ms=Task.created_at_ms - 25 * 3600_000))
            s.commit()
        assert client.post(CREATE, json=OK, headers=h).json()["task_id"] != first

    def test_bad_key_is_400(self, client: TestClient) -> None:
        assert_error(client.post(CREATE, json=OK, headers={**AUTH_A, "Idempotency-Key": "x" * 300}), 400,
                     "INVALID_REQUEST_BODY", "Idempotency-Key")
