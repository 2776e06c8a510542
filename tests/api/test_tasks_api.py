"""Contract §3 extensions without a worker: list a key's tasks, cancel a queued task, per-key queue quota
(429 with Retry-After). Run on both backends."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers.api import OK, assert_error, task_count
from tests.helpers.server import AUTH_A, AUTH_B, CREATE, RESULT

TASKS = "/v3/async/tasks"


def create(client: TestClient, headers=AUTH_A, **body) -> str:
    r = client.post(CREATE, json={**OK, **body}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["task_id"]


def test_list_is_newest_first_paged_and_per_key(client: TestClient) -> None:
    mine = [create(client) for _ in range(5)]
    create(client, headers=AUTH_B)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(TASKS, params=params, headers=AUTH_A).json()
        seen += [t["task"]["task_id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(mine))


def test_list_filters_by_status(client: TestClient) -> None:
    keep, gone = create(client), create(client)
    assert client.post(f"{TASKS}/{gone}/cancel", headers=AUTH_A).status_code == 200
    canceled = client.get(TASKS, params={"status": "TASK_STATUS_CANCELED"}, headers=AUTH_A).json()
    assert [t["task"]["task_id"] for t in canceled["tasks"]] == [gone]
    queued = client.get(TASKS, params={"status": "TASK_STATUS_QUEUED"}, headers=AUTH_A).json()
    assert [t["task"]["task_id"] for t in queued["tasks"]] == [keep]


def test_list_refuses_bad_parameters(client: TestClient) -> None:
    assert_error(client.get(TASKS, params={"status": "DONE"}, headers=AUTH_A), 400, "INVALID_REQUEST_BODY", "status")
    assert_error(client.get(TASKS, params={"limit": 0}, headers=AUTH_A), 400, "INVALID_REQUEST_BODY", "limit")
    assert_error(client.get(TASKS, params={"limit": 101}, headers=AUTH_A), 400, "INVALID_REQUEST_BODY", "limit")
    assert_error(client.get(TASKS, params={"cursor": "not-a-cursor"}, headers=AUTH_A), 400,
                 "INVALID_REQUEST_BODY", "cursor")
    assert_error(client.get(TASKS), 401, "UNAUTHORIZED", "Authorization")


def test_cancel_a_queued_task(client: TestClient) -> None:
    task_id = create(client)
    r = client.post(f"{TASKS}/{task_id}/cancel", headers=AUTH_A)
    assert r.status_code == 200 and r.json()["task"]["status"] == "TASK_STATUS_CANCELED"
    body = client.get(RESULT, params={"task_id": task_id}, headers=AUTH_A).json()
    assert body["task"]["status"] == "TASK_STATUS_CANCELED" and body["videos"] == []
    # A task that has ended is left as it is.
    assert_error(client.post(f"{TASKS}/{task_id}/cancel", headers=AUTH_A), 409, "CONFLICT", "task_id")


def test_cancel_is_scoped_to_the_key(client: TestClient) -> None:
    task_id = create(client)
    assert_error(client.post(f"{TASKS}/{task_id}/cancel", headers=AUTH_B), 404, "NOT_FOUND", "task_id")
    assert_error(client.post(f"{TASKS}/00000000-0000-4000-8000-000000000000/cancel", headers=AUTH_A), 404,
                 "NOT_FOUND", "task_id")
    assert client.get(RESULT, params={"task_id": task_id}, headers=AUTH_A).json()["task"]["status"] == \
        "TASK_STATUS_QUEUED"


def test_queue_quota_is_a_429_with_retry_after_and_queues_nothing(client: TestClient) -> None:
    limit = client.app.state.settings.max_queued_per_key
    client.app.state.settings.max_queued_per_key = 3
    try:
        ids = [create(client) for _ in range(3)]
        before = task_count(client)
        r = client.post(CREATE, json=OK, headers=AUTH_A)
        body = assert_error(r, 429, "RATE_LIMITED", None)
        assert int(r.headers["Retry-After"]) >= 1 and "3" in body["message"]
        assert task_count(client) == before
        create(client, headers=AUTH_B)  # other keys are not affected
        client.post(f"{TASKS}/{ids[0]}/cancel", headers=AUTH_A)  # a finished task frees a place
        create(client)
    finally:
        client.app.state.settings.max_queued_per_key = limit
