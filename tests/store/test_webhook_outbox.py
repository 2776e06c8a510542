"""The webhook outbox: rows are written with the status change they announce (only for tasks with a
webhook), and concurrent senders (API processes) never claim the same row, on SQLite and PostgreSQL.
The sender refuses, at send time, a URL that leads into the private network."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from shotline.config import Settings
from shotline.db import NewTask, TaskStore, WebhookOutbox, make_db, migrate
from shotline.request import GenerationRequest, ShotRequest
from shotline.status import TaskStatus
from tests.helpers.services import create_database, drop_database, require_postgres

REQ = GenerationRequest(shots=[ShotRequest(prompt="a", duration=5)], duration=5, cfg_scale=0.5,
                        aspect_ratio="16:9", sound=False, negative_prompt="")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    require_postgres()
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def store(db_url: str) -> TaskStore:
    engine = make_db(db_url)
    migrate(engine)
    return TaskStore(engine)


def new(store: TaskStore, webhook: str | None = "https://8.8.8.8/hook", owner: str = "key_a") -> str:
    request = REQ.model_copy(update={"webhook_url": webhook})
    task, _ = store.create(NewTask(owner=owner, request=request, engine="tiny", seed=1, request_hash="h"))
    return task.id


def test_each_status_change_of_a_webhook_task_queues_one_event(store: TaskStore) -> None:
    outbox = WebhookOutbox(store.db)
    done, canceled, plain = new(store), new(store), new(store, webhook=None)
    assert store.claim(done, "w1", lease_s=30)
    assert store.succeed(done, owned_by="w1")
    assert not store.transition(done, TaskStatus.FAILED)  # a refused change announces nothing
    assert store.transition(canceled, TaskStatus.CANCELED)
    assert store.claim(plain, "w1", lease_s=30) and store.transition(plain, TaskStatus.SUCCEED, owned_by="w1")
    assert [(d.event, d.payload["data"]["task"]["status"]) for d in outbox.for_task(done)] == [
        ("task.processing", "TASK_STATUS_PROCESSING"), ("task.succeeded", "TASK_STATUS_SUCCEED")]
    assert [d.event for d in outbox.for_task(canceled)] == ["task.canceled"]
    assert outbox.for_task(plain) == [] and outbox.count() == 3
    first = outbox.for_task(done)[0]
    assert first.url == "https://8.8.8.8/hook" and first.owner == "key_a" and first.id.startswith("msg_")


def test_the_event_is_rolled_back_with_the_change(store: TaskStore) -> None:
    """The row is written in the status change's own transaction: if that transaction fails, neither stays."""
    tid = new(store)

    def fail_on_commit(_session: Session) -> None:
        raise RuntimeError("the database went away at commit")

    event.listen(Session, "before_commit", fail_on_commit)
    try:
        with pytest.raises(RuntimeError):
            store.transition(tid, TaskStatus.CANCELED)
    finally:
        event.remove(Session, "before_commit", fail_on_commit)
    assert store.get(tid).status is TaskStatus.QUEUED
    assert WebhookOutbox(store.db).count() == 0


def test_concurrent_senders_never_claim_the_same_delivery(store: TaskStore, db_url: str) -> None:
    ids = [new(store) for _ in range(40)]
    for tid in ids:
        store.transition(tid, TaskStatus.CANCELED)
    senders = [WebhookOutbox(make_db(db_url)) for _ in range(4)]  # like four API processes
    claims: list[list[str]] = [[] for _ in senders]
    start = threading.Barrier(len(senders))

    def drain(i: int) -> None:
        start.wait()
        while batch := senders[i].claim_due(3, lease_s=600):
            claims[i].extend(d.id for d in batch)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(senders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    everything = [c for per in claims for c in per]
    assert len(everything) == len(set(everything)) == 40
    # A claimed row is leased: nobody can take it again until the lease runs out.
    assert WebhookOutbox(store.db).claim_due(100, lease_s=600) == []


def test_a_claim_whose_lease_ran_out_is_taken_again_and_the_stale_one_cannot_settle(store: TaskStore) -> None:
    tid = new(store)
    store.transition(tid, TaskStatus.CANCELED)
    outbox = WebhookOutbox(store.db)
    [stale] = outbox.claim_due(10, lease_s=0)  # a sender that died mid-send
    [fresh] = outbox.claim_due(10, lease_s=600)
    assert fresh.id == stale.id and fresh.attempts == 2
    outbox.retry_later(stale, "late answer from a dead sender", 0)
    assert outbox.claim_due(10, lease_s=600) == []  # the fresh claim's lease still holds
    outbox.delivered(fresh)
    [row] = outbox.for_task(tid)
    assert (row.state, row.attempts) == ("delivered", 2)


def test_the_sender_rechecks_the_address_at_send_time(tmp_path: Path) -> None:
    """A URL that resolves into the private network by the time it is sent (DNS rebinding) is not called."""
    from shotline.api.app import build_service, webhook_sender
    from tests.helpers.webhook_receiver import Receiver

    settings = Settings(data_dir=tmp_path / "data", embedded_worker=False, _env_file=None,
                        webhook_retry_schedule_s=[0])
    service, _ = build_service(settings)
    key, _raw = service.keys.create("hooks")
    receiver = Receiver()
    sender = webhook_sender(service)
    try:
        # Stored as if its name had resolved to a public address at submit.
        tid = new(service.tasks, webhook=receiver.url("/ok"), owner=key.id)
        service.tasks.transition(tid, TaskStatus.CANCELED)
        assert [sender.run_once() for _ in range(3)] == [1, 1, 0]
    finally:
        sender.stop()
        receiver.close()
    [row] = WebhookOutbox(service.tasks.db).for_task(tid)
    assert (row.state, row.attempts) == ("failed", 2), row
    assert row.last_error.startswith("refused: the host '127.0.0.1' is a loopback"), row.last_error
    assert receiver.on("/ok") == []
