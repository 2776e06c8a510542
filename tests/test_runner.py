"""Shot checkpoints: a task interrupted after some shots resumes from the first unfinished one."""

from __future__ import annotations

import pytest
import torch  # noqa: F401

from shotline.config import Settings
from shotline.db import NewTask, TaskStore, make_db, migrate, recover_orphans
from shotline.engines.base import Engine
from shotline.protocol.kling import CreateTaskRequest
from shotline.status import TaskStatus
from shotline.worker import Worker

FOUR_SHOTS = {"multi_prompt": [{"prompt": f"shot {i}"} for i in range(4)], "duration": 4, "aspect_ratio": "1:1",
              "sound": True, "extra": {"seed": 3}}


class Crash(BaseException):
    """Stands in for the process dying: not an Exception, so the worker cannot turn it into FAILED."""


class CountingEngine(Engine):
    def __init__(self, inner: Engine, crash_on_shot: int | None = None) -> None:
        self.inner, self.spec, self.crash_on_shot = inner, inner.spec, crash_on_shot
        self.calls: list[int] = []

    def load(self) -> None:
        pass

    def generate_shot(self, plan, shot, on_step):
        if shot.index == self.crash_on_shot:
            raise Crash
        self.calls.append(shot.index)
        return self.inner.generate_shot(plan, shot, on_step)

    def describe(self) -> dict[str, str]:
        return self.inner.describe()


@pytest.fixture(scope="module")
def tiny():
    from shotline.engines.tiny import TinyEngine

    engine = TinyEngine(Settings(_env_file=None))
    engine.load()
    return engine


def make_worker(settings: Settings, store: TaskStore, engine: Engine) -> Worker:
    worker = Worker(settings, engine=engine, tasks=store)
    worker.workers.register(worker.worker_id, "test", 0, "tiny")
    return worker


def submit(store: TaskStore, body: dict) -> str:
    request = CreateTaskRequest.model_validate(body).normalized()
    task, _ = store.create(NewTask(owner="key_a", request=request, engine="tiny", seed=request.seed or 1,
                                   request_hash="h"))
    return task.id


def test_crash_after_two_of_four_shots_resumes_with_shots_three_and_four(tmp_path, tiny) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    db = make_db(settings.resolved_database_url)
    migrate(db)
    store = TaskStore(db)
    task_id = submit(store, FOUR_SHOTS)

    first = make_worker(settings, store, CountingEngine(tiny, crash_on_shot=2))
    with pytest.raises(Crash):
        first.run_task(store.claim_next(first.worker_id, lease_s=30))
    assert first.engine.calls == [0, 1]
    assert len(list((tmp_path / "checkpoints" / task_id).glob("*-shot*.mp4"))) == 2
    assert store.get(task_id).status is TaskStatus.PROCESSING

    # The first worker is gone; recovery requeues its task and a new worker finishes it.
    assert recover_orphans(store, lambda w: w == first.worker_id, max_attempts=3) == [(task_id, TaskStatus.QUEUED)]
    second = make_worker(settings, store, CountingEngine(tiny))
    assert second.run_task(store.claim_next(second.worker_id, lease_s=30)) is TaskStatus.SUCCEED
    assert second.engine.calls == [2, 3]
    assert not (tmp_path / "checkpoints" / task_id).exists()  # cleaned up at the end

    # The resumed video equals one made in a single run.
    again = submit(store, FOUR_SHOTS)
    third = make_worker(settings, store, CountingEngine(tiny))
    assert third.run_task(store.claim_next(third.worker_id, lease_s=30)) is TaskStatus.SUCCEED
    assert third.engine.calls == [0, 1, 2, 3]
    import av
    import numpy as np

    def frames(tid: str) -> np.ndarray:
        with av.open(str(settings.results_dir / f"{tid}.mp4")) as c:
            return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])

    assert np.array_equal(frames(task_id), frames(again))


def test_changed_settings_do_not_reuse_old_shots(tmp_path, tiny) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    db = make_db(settings.resolved_database_url)
    migrate(db)
    store = TaskStore(db)
    task_id = submit(store, FOUR_SHOTS)
    first = make_worker(settings, store, CountingEngine(tiny, crash_on_shot=2))
    with pytest.raises(Crash):
        first.run_task(store.claim_next(first.worker_id, lease_s=30))
    recover_orphans(store, lambda w: True, max_attempts=3)
    changed = Settings(data_dir=tmp_path, steps=3, _env_file=None)  # a different plan: different pixels
    second = make_worker(changed, store, CountingEngine(tiny))
    assert second.run_task(store.claim_next(second.worker_id, lease_s=30)) is TaskStatus.SUCCEED
    assert second.engine.calls == [0, 1, 2, 3]
