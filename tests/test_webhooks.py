"""Webhooks end to end: a real receiver on 127.0.0.1 gets each status change of a task that asked for one,
signed per Standard Webhooks with its key's secret, retried with the same webhook-id, kept across a server
restart, and never at the expense of generation. URLs into private networks are refused at submit."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook, WebhookVerificationError

from shotline.config import Settings
from shotline.db import WebhookOutbox, make_db
from shotline.db.keys import key_id_for
from tests.helpers.api import task_count
from tests.helpers.backends import BACKENDS, backend_overrides
from tests.helpers.server import AUTH_A, AUTH_B, CREATE, KEY_A, KEY_B, RESULT, LiveServer, wait_terminal
from tests.helpers.webhook_receiver import Received, Receiver

BODY = {"prompt": "a lighthouse at dusk", "duration": 3, "aspect_ratio": "1:1"}
FAST_RETRIES = {"webhook_allow_private": True, "webhook_retry_schedule_s": [0.2, 0.2], "webhook_poll_s": 0.05}
LIVE_ENV = {"SHOTLINE_WEBHOOK_ALLOW_PRIVATE": "true", "SHOTLINE_WEBHOOK_POLL_S": "0.05",
            "SHOTLINE_WEBHOOK_TIMEOUT_S": "60", "SHOTLINE_WEBHOOK_RETRY_SCHEDULE_S": ",".join(["0.3"] * 200)}


def with_webhook(url: str, body: dict | None = None) -> dict:
    return {**(body or BODY), "extra": {"webhook": {"url": url}}}


def verified(secret: str, received: Received) -> dict:
    """The payload if the signature holds under `secret` (raises WebhookVerificationError if not)."""
    return Webhook(secret).verify(received.body, received.headers)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(params=BACKENDS)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The API with its webhook sender and no worker: tasks stay QUEUED until the test moves them."""
    from shotline.api.app import create_app

    settings = Settings(data_dir=tmp_path / "data", api_keys=[KEY_A, KEY_B], embedded_worker=False, _env_file=None,
                        **FAST_RETRIES, **backend_overrides(request, request.param))
    with TestClient(create_app(settings)) as c:
        yield c


def outbox(c: TestClient) -> WebhookOutbox:
    return WebhookOutbox(c.app.state.service.tasks.db)


def secret_of(c: TestClient, key: str) -> str:
    return c.app.state.service.keys.webhook_secret(key_id_for(key))


# ------------------------------------------------------------------------------- in-process, both backends


def test_a_canceled_task_sends_task_canceled_signed_with_its_own_keys_secret(app: TestClient, receiver) -> None:
    ids = {}
    for key, auth in ((KEY_A, AUTH_A), (KEY_B, AUTH_B)):
        r = app.post(CREATE, json=with_webhook(receiver.url("/ok")), headers=auth)
        assert r.status_code == 200, r.text
        ids[key] = r.json()["task_id"]
        assert app.post(f"/v3/async/tasks/{ids[key]}/cancel", headers=auth).status_code == 200
    got = receiver.wait_for("/ok", 2)
    assert len(got) == 2
    by_task = {g.json["data"]["task"]["task_id"]: g for g in got}
    assert set(by_task) == set(ids.values())
    secrets = {key: secret_of(app, key) for key in (KEY_A, KEY_B)}
    assert secrets[KEY_A] != secrets[KEY_B] and secrets[KEY_A].startswith("whsec_")
    for key, other in ((KEY_A, KEY_B), (KEY_B, KEY_A)):
        delivery = by_task[ids[key]]
        payload = verified(secrets[key], delivery)
        assert payload["type"] == "task.canceled"
        assert payload["timestamp"].endswith("Z")
        # data is the task-result body, as GET /v3/async/task-result answers it
        result = app.get(RESULT, params={"task_id": ids[key]}, headers=AUTH_A if key == KEY_A else AUTH_B).json()
        assert payload["data"]["task"] == result["task"]
        assert payload["data"]["task"]["status"] == "TASK_STATUS_CANCELED"
        assert payload["data"]["videos"] == [] and payload["data"]["extra"]["seed"] == result["extra"]["seed"]
        with pytest.raises(WebhookVerificationError):
            verified(secrets[other], delivery)
        [row] = outbox(app).for_task(ids[key])
        assert (row.id, row.state, row.attempts) == (delivery.headers["webhook-id"], "delivered", 1)


def test_a_failed_attempt_is_retried_with_the_same_webhook_id(app: TestClient, receiver) -> None:
    task_id = app.post(CREATE, json=with_webhook(receiver.url("/flaky")), headers=AUTH_A).json()["task_id"]
    app.post(f"/v3/async/tasks/{task_id}/cancel", headers=AUTH_A)
    first, second = receiver.wait_for("/flaky", 2, ok_only=False)[:2]
    assert (first.answered, second.answered) == (500, 200)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    for attempt in (first, second):
        assert verified(secret_of(app, KEY_A), attempt)["type"] == "task.canceled"
    [row] = outbox(app).for_task(task_id)
    assert (row.state, row.attempts) == ("delivered", 2)


def test_a_delivery_is_given_up_after_the_last_retry(app: TestClient, receiver) -> None:
    task_id = app.post(CREATE, json=with_webhook(receiver.url("/down")), headers=AUTH_A).json()["task_id"]
    app.post(f"/v3/async/tasks/{task_id}/cancel", headers=AUTH_A)
    receiver.wait_for("/down", 3)  # the first attempt and the schedule's two retries
    deadline = time.monotonic() + 30
    while (row := outbox(app).for_task(task_id)[0]).state == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (row.state, row.attempts) == ("failed", 3) and row.last_error.startswith("HTTP 500"), row
    assert len(receiver.on("/down")) == 3


PRIVATE_URLS = [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.0.10/",
    "http://[::1]:8080/", "http://169.254.169.254/latest/meta-data", "http://[::ffff:127.0.0.1]/",
    "http://100.64.0.1/", "http://0.0.0.0/", "https://224.0.0.1/", "https://203.0.113.7/",
]


def test_private_urls_are_refused_naming_the_field_and_nothing_is_queued(client: TestClient) -> None:
    for url in PRIVATE_URLS:
        r = client.post(CREATE, json=with_webhook(url), headers=AUTH_A)
        assert r.status_code == 400, (url, r.text)
        body = r.json()
        assert body["reason"] == "INVALID_REQUEST_BODY" and body["metadata"]["field"] == "extra.webhook.url", body
        assert "SHOTLINE_WEBHOOK_ALLOW_PRIVATE" in body["message"], body
    r = client.post(CREATE, json=with_webhook("https://no-such-host.invalid/hook"), headers=AUTH_A)
    assert r.status_code == 400 and r.json()["metadata"]["field"] == "extra.webhook.url", r.text
    assert task_count(client) == 0 and outbox(client).count() == 0


def test_a_public_address_is_accepted(client: TestClient) -> None:
    r = client.post(CREATE, json=with_webhook("https://8.8.8.8:8443/hook"), headers=AUTH_A)
    assert r.status_code == 200, r.text
    assert task_count(client) == 1
    assert outbox(client).count() == 0  # nothing to announce while it waits in the queue


# ---------------------------------------------------------------------------- real servers, real worker


@pytest.fixture(params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "data", backend_overrides(request, request.param), **LIVE_ENV).start()
    yield server
    server.stop()


def cli_secret(server: LiveServer, key: str, *extra: str) -> str:
    """The key's webhook secret as a user gets it: `shotline keys webhook-secret KEY_ID`."""
    out = subprocess.run([sys.executable, "-m", "shotline", "keys", "webhook-secret", key_id_for(key), *extra],
                         env=server.env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_task_sends_processing_then_succeeded_and_a_slow_receiver_does_not_hold_it_up(live, receiver) -> None:
    secret = cli_secret(live, KEY_A)
    with live.client() as http:
        task_id = http.post(CREATE, json=with_webhook(receiver.url("/hold"))).json()["task_id"]
        # The receiver keeps the first webhook (task.processing) waiting; generation goes on regardless.
        assert receiver.holding.wait(60)
        result = wait_terminal(http, task_id)
        assert result["task"]["status"] == "TASK_STATUS_SUCCEED"
        assert receiver.on("/hold") == [], "nothing may be answered while the receiver holds the first one"
        receiver.release.set()
        processing, succeeded = receiver.wait_for("/hold", 2, ok_only=True)
        assert verified(secret, processing)["type"] == "task.processing"
        assert processing.json["data"]["task"]["status"] == "TASK_STATUS_PROCESSING"
        payload = verified(secret, succeeded)
        assert payload["type"] == "task.succeeded"
        assert payload["data"]["task"] == result["task"]
        assert processing.headers["webhook-id"] != succeeded.headers["webhook-id"]
        # Enough to fetch the video without the API key: a freshly signed URL.
        video = httpx.get(payload["data"]["videos"][0]["video_url"], timeout=30, follow_redirects=True)
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"


def test_a_failed_task_sends_task_failed_with_its_reason(tmp_path: Path, receiver) -> None:
    # An engine whose weights are missing loads nothing; each task it claims ends FAILED with the reason.
    server = LiveServer(tmp_path / "data", None, SHOTLINE_ENGINE="ltx2", SHOTLINE_MODEL=str(tmp_path / "missing"),
                        HF_HUB_OFFLINE="1", **LIVE_ENV).start(wait_ready=False)
    try:
        with server.client() as http:
            task_id = http.post(CREATE, json=with_webhook(receiver.url("/ok"))).json()["task_id"]
            result = wait_terminal(http, task_id)
        assert result["task"]["status"] == "TASK_STATUS_FAILED" and result["task"]["reason"]
        secret = cli_secret(server, KEY_A)
        processing, failed = receiver.wait_for("/ok", 2)
        assert verified(secret, processing)["type"] == "task.processing"
        payload = verified(secret, failed)
        assert payload["type"] == "task.failed"
        assert payload["data"]["task"]["reason"] == result["task"]["reason"]
        assert payload["data"]["videos"] == []
    finally:
        server.stop()


def test_deliveries_pending_at_shutdown_are_sent_after_a_restart(tmp_path: Path, receiver) -> None:
    server = LiveServer(tmp_path / "data", None, **LIVE_ENV).start()
    try:
        with server.client() as http:
            task_id = http.post(CREATE, json=with_webhook(receiver.url("/gate"))).json()["task_id"]
            assert wait_terminal(http, task_id)["task"]["status"] == "TASK_STATUS_SUCCEED"
        # Both events have been tried and refused (503), so both are waiting for a retry.
        while {r.json["type"] for r in receiver.on("/gate")} != {"task.processing", "task.succeeded"}:
            receiver.wait_for("/gate", len(receiver.on("/gate")) + 1)
        server.stop()
        rows = WebhookOutbox(make_db(f"sqlite:///{server.data_dir / 'shotline.db'}")).for_task(task_id)
        assert [(r.event, r.state) for r in rows] == [("task.processing", "pending"), ("task.succeeded", "pending")]
        receiver.gate_open.set()
        assert receiver.on("/gate", ok_only=True) == []
        server.start()
        secret = cli_secret(server, KEY_A)
        got = receiver.wait_for("/gate", 2, ok_only=True)
        assert [verified(secret, g)["type"] for g in got] == ["task.processing", "task.succeeded"]
        assert {g.headers["webhook-id"] for g in got} == {r.id for r in rows}
    finally:
        server.stop()


def test_keys_create_prints_the_webhook_secret_and_rotation_replaces_it(tmp_path: Path, receiver) -> None:
    server = LiveServer(tmp_path / "data", None, **LIVE_ENV)
    made = subprocess.run([sys.executable, "-m", "shotline", "keys", "create", "--name", "hooks"], env=server.env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    raw = made.stdout.strip()
    printed = next(w for w in made.stderr.split() if w.startswith("whsec_"))
    key_id = key_id_for(raw)
    run = [sys.executable, "-m", "shotline", "keys", "webhook-secret", key_id]
    again = subprocess.run(run, env=server.env, capture_output=True, text=True, check=True).stdout.strip()
    assert again == printed
    rotated = subprocess.run([*run, "--rotate"], env=server.env, capture_output=True, text=True, check=True)
    rotated = rotated.stdout.strip()
    assert rotated.startswith("whsec_") and rotated != printed
    server.start()
    try:
        with server.client({"Authorization": f"Bearer {raw}"}) as http:
            task_id = http.post(CREATE, json=with_webhook(receiver.url("/ok"))).json()["task_id"]
            wait_terminal(http, task_id)
        got = receiver.wait_for("/ok", 2)
        assert [verified(rotated, g)["type"] for g in got] == ["task.processing", "task.succeeded"]
        with pytest.raises(WebhookVerificationError):
            verified(printed, got[0])
    finally:
        server.stop()


def test_a_receiver_that_is_down_for_a_while_gets_every_event_once(tmp_path: Path) -> None:
    """Nothing listens on the webhook's port while two tasks run to the end (every attempt is refused at the
    TCP level); once a receiver comes up there, it gets all four events, each exactly once by webhook-id."""
    from tests.helpers.services import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/ok"
    server = LiveServer(tmp_path / "data", None, **LIVE_ENV).start()
    receiver = None
    try:
        with server.client() as http:
            ids = [http.post(CREATE, json=with_webhook(url, {**BODY, "prompt": f"clip {i}"})).json()["task_id"]
                   for i in range(2)]
            for task_id in ids:
                assert wait_terminal(http, task_id)["task"]["status"] == "TASK_STATUS_SUCCEED"
        store = WebhookOutbox(make_db(f"sqlite:///{server.data_dir / 'shotline.db'}"))
        deadline = time.monotonic() + 60
        while True:  # wait until every event has been tried and refused at least twice
            rows = [r for task_id in ids for r in store.for_task(task_id)]
            if len(rows) == 4 and all(r.attempts >= 2 and r.state == "pending" for r in rows):
                break
            assert time.monotonic() < deadline, [(r.event, r.state, r.attempts) for r in rows]
            time.sleep(0.1)
        assert all("refused" in r.last_error.lower() or "connect" in r.last_error.lower() for r in rows), \
            [r.last_error for r in rows]
        receiver = Receiver(port=port)
        got = receiver.wait_for("/ok", 4, ok_only=True)
        time.sleep(1.5)  # several more sender rounds: a delivered event must not come again
        got = receiver.on("/ok")
        secret = cli_secret(server, KEY_A)
        seen = sorted((verified(secret, g)["data"]["task"]["task_id"], verified(secret, g)["type"]) for g in got)
        assert seen == sorted((t, e) for t in ids for e in ("task.processing", "task.succeeded"))
        assert sorted(g.headers["webhook-id"] for g in got) == sorted(r.id for r in rows)  # once each
        assert all(r.state == "delivered" for task_id in ids for r in store.for_task(task_id))
    finally:
        if receiver is not None:
            receiver.close()
        server.stop()
