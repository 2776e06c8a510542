"""GET /metrics: Prometheus text that the official parser reads; request counters by route template that
move with requests; tasks by status and queue depth from the database; generation and encode histograms
and worker heartbeats from a real server whose worker ran a task (on both backends: the scale-out worker
is another process that shares only the database with the API)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from shotline.config import Settings
from tests.helpers.api import OK
from tests.helpers.server import AUTH_A, CREATE, RESULT, LiveServer, wait_terminal

CREATE_ROUTE = {"method": "POST", "route": CREATE}


def scrape(http: TestClient | httpx.Client) -> dict[str, list[tuple[dict[str, str], float]]]:
    """{sample name: [(labels, value), ...]} from /metrics, parsed by prometheus_client's own parser."""
    r = http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    """The one sample of `name` whose labels include `labels`; 0 if there is none yet."""
    found = [v for lab, v in samples.get(name, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


def test_request_counters_move_and_are_labelled_by_route_template(client: TestClient) -> None:
    before = scrape(client)
    ok = client.post(CREATE, json=OK, headers=AUTH_A).json()["task_id"]
    client.post(CREATE, json=OK, headers=AUTH_A)
    client.post(CREATE, json=OK)  # no key: 401
    client.get(RESULT, params={"task_id": ok}, headers=AUTH_A)
    client.get(f"/v3/files/{ok}/video.mp4")  # unsigned: 403
    client.get("/no/such/path")
    after = scrape(client)

    def moved(code: str, **labels: str) -> float:
        return (value(after, "shotline_http_requests_total", code=code, **labels)
                - value(before, "shotline_http_requests_total", code=code, **labels))

    assert moved("200", **CREATE_ROUTE) == 2
    assert moved("401", **CREATE_ROUTE) == 1
    assert moved("200", method="GET", route=RESULT) == 1
    assert moved("403", method="GET", route="/v3/files/{task_id}/video.mp4") == 1
    assert moved("404", method="GET", route="unmatched") == 1
    # No task id ever becomes a label value.
    labels = [lab for series in after.values() for lab, _ in series]
    assert not any(ok in str(lab) for lab in labels)
    count = "shotline_http_request_duration_seconds_count"
    assert value(after, count, **CREATE_ROUTE) - value(before, count, **CREATE_ROUTE) == 3


def test_tasks_by_status_and_queue_depth_come_from_the_store(client: TestClient) -> None:
    ids = [client.post(CREATE, json=OK, headers=AUTH_A).json()["task_id"] for _ in range(3)]
    client.post(f"/v3/async/tasks/{ids[0]}/cancel", headers=AUTH_A)
    samples = scrape(client)
    assert value(samples, "shotline_store_up") == 1
    assert value(samples, "shotline_tasks", status="TASK_STATUS_QUEUED") == 2
    assert value(samples, "shotline_tasks", status="TASK_STATUS_CANCELED") == 1
    assert value(samples, "shotline_tasks", status="TASK_STATUS_SUCCEED") == 0
    assert value(samples, "shotline_queue_depth") == 2


def test_a_second_api_process_reports_the_same_tasks(settings: Settings, client: TestClient) -> None:
    from shotline.api.app import create_app

    for _ in range(2):
        client.post(CREATE, json=OK, headers=AUTH_A)
    with TestClient(create_app(settings)) as other:
        assert value(scrape(other), "shotline_queue_depth") == 2


def test_metrics_can_be_turned_off(settings: Settings) -> None:
    from shotline.api.app import create_app

    with TestClient(create_app(settings.model_copy(update={"metrics": False}))) as c:
        r = c.get("/metrics")
        assert r.status_code == 404 and r.json()["reason"] == "NOT_FOUND"


def test_a_finished_task_shows_in_histograms_and_its_worker_in_heartbeats(backend_server: LiveServer) -> None:
    with backend_server.client() as http:
        before = scrape(http)
        task_id = http.post(CREATE, json={"prompt": "a kite in the wind", "duration": 3}).json()["task_id"]
        assert wait_terminal(http, task_id)["task"]["status"] == "TASK_STATUS_SUCCEED"
        after = scrape(http)
    for name in ("shotline_generation_seconds", "shotline_encode_seconds"):
        count = value(after, f"{name}_count", engine="tiny")
        assert count - value(before, f"{name}_count", engine="tiny") == 1
        assert value(after, f"{name}_sum", engine="tiny") > value(before, f"{name}_sum", engine="tiny")
        assert value(after, f"{name}_bucket", engine="tiny", le="+Inf") == count
        buckets = [v for lab, v in after[f"{name}_bucket"] if lab["engine"] == "tiny"]
        assert buckets == sorted(buckets)  # cumulative
    assert value(after, "shotline_tasks", status="TASK_STATUS_SUCCEED") >= 1
    beats = after["shotline_worker_heartbeat_age_seconds"]
    assert any(lab["state"] == "ready" and lab["engine"] == "tiny" and age < 30 for lab, age in beats), beats
    # A CPU worker holds no GPU memory, so it reports none (rather than a misleading 0).
    assert "shotline_worker_gpu_memory_used_bytes" not in after


@pytest.mark.parametrize("header", ["abc-123", "x" * 64])
def test_sane_request_ids_are_kept_and_stored_with_the_task(client: TestClient, header: str) -> None:
    r = client.post(CREATE, json=OK, headers={**AUTH_A, "X-Request-Id": header})
    assert r.headers["X-Request-Id"] == header
    assert client.app.state.service.tasks.get(r.json()["task_id"]).request_id == header


@pytest.mark.parametrize("header", ["", "x" * 65, "has space", "new\\nline", "semi;colon", "a/b"])
def test_other_request_ids_are_replaced(client: TestClient, header: str) -> None:
    r = client.post(CREATE, json=OK, headers={**AUTH_A, "X-Request-Id": header})
    generated = r.headers["X-Request-Id"]
    assert generated != header and len(generated) == 32 and int(generated, 16) >= 0
    assert client.app.state.service.tasks.get(r.json()["task_id"]).request_id == generated
    refused = client.post(CREATE, json={"nope": 1}, headers=AUTH_A)  # error answers carry one too
    assert refused.status_code == 400 and len(refused.headers["X-Request-Id"]) == 32
