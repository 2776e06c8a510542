"""The status poll's one query (`TaskStore.get_with_ahead`) agrees with the separate queries it replaced:
the task itself, and for a queued task the tasks queued before it plus those running; on SQLite and on
PostgreSQL, whose SQL differs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shotline.db import NewTask, TaskStore, make_db, migrate
from shotline.request import GenerationRequest, ShotRequest
from shotline.status import TaskStatus
from tests.helpers.services import create_database, drop_database, require_postgres

REQ = GenerationRequest(shots=[ShotRequest(prompt="a", duration=5)], duration=5, cfg_scale=0.5,
                        aspect_ratio="16:9", sound=False, negative_prompt="")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[TaskStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:
        require_postgres()
        url = create_database()
    engine = make_db(url)
    migrate(engine)
    yield TaskStore(engine)
    engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


def new(store: TaskStore, owner: str = "key_a") -> str:
    task, _ = store.create(NewTask(owner=owner, request=REQ, engine="tiny", seed=1, request_hash="h"))
    return task.id


def test_one_query_matches_the_separate_ones(store: TaskStore) -> None:
    ids = [new(store, owner="key_a" if i % 2 else "key_b") for i in range(7)]
    store.claim(ids[0], "w1", lease_s=30)
    store.claim(ids[1], "w2", lease_s=30)
    store.transition(ids[1], TaskStatus.SUCCEED, owned_by="w2")
    for task_id in ids:
        owner = store.get(task_id).owner
        task, ahead = store.get_with_ahead(task_id, owner)
        assert task == store.get(task_id, owner=owner)
        expected = store.queue_position(task) + store.processing_count() if task.status is TaskStatus.QUEUED else 0
        assert ahead == expected, task.status
    # ids[2..6] are queued behind one running task: 1, 2, 3, 4, 5 ahead.
    assert [store.get_with_ahead(t, store.get(t).owner)[1] for t in ids[2:]] == [1, 2, 3, 4, 5]


def test_another_keys_task_is_not_found(store: TaskStore) -> None:
    task_id = new(store, owner="key_a")
    assert store.get_with_ahead(task_id, "key_b") is None
    assert store.get_with_ahead("00000000-0000-0000-0000-000000000000", "key_a") is None
