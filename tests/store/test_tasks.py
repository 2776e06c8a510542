"""The task store's rules: one transition function that never leaves a terminal state, claims in queue
order, monotonic progress, and recovery of tasks left by a dead worker."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import update

from shotline.db import NewTask, TaskStore, make_db, migrate, recover_orphans
from shotline.db.models import Task
from shotline.request import GenerationRequest, ShotRequest
from shotline.status import TaskStatus

REQ = GenerationRequest(shots=[ShotRequest(prompt="a", duration=5)], duration=5, cfg_scale=0.5,
                        aspect_ratio="16:9", sound=False, negative_prompt="")


@pytest.fixture
def store(tmp_path) -> TaskStore:
    engine = make_db(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    return TaskStore(engine)


def new(store: TaskStore, owner: str = "key_a") -> str:
    task, created = store.create(NewTask(owner=owner, request=REQ, engine="tiny", seed=1, request_hash="h"))
    assert created
    return task.id


@pytest.mark.parametrize("terminal", [TaskStatus.SUCCEED, TaskStatus.FAILED, TaskStatus.CANCELED])
def test_terminal_states_never_change(store: TaskStore, terminal: TaskStatus) -> None:
    tid = new(store)
    claimed = store.claim(tid, "w1", lease_s=30)
    assert claimed is not None and claimed.status is TaskStatus.PROCESSING
    assert store.fail(tid, "r", owned_by="w1") if terminal is TaskStatus.FAILED else \
        store.transition(tid, terminal, owned_by="w1")
    for target in TaskStatus:
        assert not store.transition(tid, target), target
    assert store.claim(tid, "w2", lease_s=30) is None
    assert store.get(tid).status is terminal


def test_queued_cannot_jump_to_succeed(store: TaskStore) -> None:
    tid = new(store)
    assert not store.transition(tid, TaskStatus.SUCCEED)
    assert store.get(tid).status is TaskStatus.QUEUED


def test_a_worker_that_lost_its_claim_cannot_finish(store: TaskStore) -> None:
    tid = new(store)
    store.claim(tid, "w1", lease_s=30)
    assert store.requeue(tid, "w1", count_attempt=True)
    store.claim(tid, "w2", lease_s=30)
    assert not store.transition(tid, TaskStatus.SUCCEED, owned_by="w1")
    assert store.transition(tid, TaskStatus.SUCCEED, owned_by="w2")


def test_claims_follow_queue_order(store: TaskStore) -> None:
    ids = [new(store) for _ in range(5)]
    claimed = [store.claim_next("w", lease_s=30).id for _ in range(5)]
    assert claimed == ids
    assert store.claim_next("w", lease_s=30) is None


def test_progress_never_goes_down(store: TaskStore) -> None:
    tid = new(store)
    store.claim(tid, "w1", lease_s=30)
    store.set_progress(tid, "w1", 40)
    store.set_progress(tid, "w1", 10)
    assert store.get(tid).progress == 40
    store.set_progress(tid, "other-worker", 90)  # not its task
    assert store.get(tid).progress == 40


def test_orphans_are_requeued_then_failed_after_max_attempts(store: TaskStore) -> None:
    tid = new(store)
    for attempt in (1, 2):
        assert store.claim(tid, f"w{attempt}", lease_s=30).attempts == attempt
        assert recover_orphans(store, lambda w: w == f"w{attempt}", max_attempts=3) == [(tid, TaskStatus.QUEUED)]
        assert store.get(tid).status is TaskStatus.QUEUED
    store.claim(tid, "w3", lease_s=30)
    assert recover_orphans(store, lambda w: True, max_attempts=3) == [(tid, TaskStatus.FAILED)]
    task = store.get(tid)
    assert task.status is TaskStatus.FAILED and "3 times" in task.reason


def test_expired_lease_is_recovered_live_one_is_not(store: TaskStore) -> None:
    live, dead = new(store), new(store)
    store.claim(live, "w-live", lease_s=30)
    store.claim(dead, "w-dead", lease_s=30)
    with store.session() as s:
        s.execute(update(Task).where(Task.id == dead).values(lease_expires_ms=1))
        s.commit()
    assert recover_orphans(store, lambda w: False, max_attempts=3) == [(dead, TaskStatus.QUEUED)]
    assert store.get(live).status is TaskStatus.PROCESSING


def test_graceful_release_does_not_count_an_attempt(store: TaskStore) -> None:
    tid = new(store)
    store.claim(tid, "w1", lease_s=30)
    assert store.release(tid, "w1")
    task = store.get(tid)
    assert task.status is TaskStatus.QUEUED and task.attempts == 0 and task.worker_id is None


def test_migrations_match_the_models(tmp_path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shotline.db.models import Base

    engine = make_db(f"sqlite:///{tmp_path / 'm.sqlite'}")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_cli_db_upgrade_is_idempotent(tmp_path) -> None:
    for _ in range(2):
        out = subprocess.run([sys.executable, "-m", "shotline", "db", "upgrade", "--data-dir", str(tmp_path)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    assert (tmp_path / "shotline.db").exists()
