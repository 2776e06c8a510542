"""Failures inside a real engine end one task FAILED with a reason a user can act on; the worker lives on,
frees what the task held, and runs the next task. The engines load tiny weights from disk; the faults are
injected where the real ones happen: in the pipeline's step callback, and in the weight files."""

from __future__ import annotations

import gc
import shutil
import weakref
from pathlib import Path

import pytest
import torch

from shotline.db import NewTask, TaskStore, WorkerRegistry, make_db, migrate
from shotline.engines.ltx2 import LTX2Engine
from shotline.protocol.kling import CreateTaskRequest
from shotline.status import TaskStatus
from shotline.worker import Worker
from tests.engines.conftest import engine_settings

BODY = {"prompt": "a fox", "duration": 3, "aspect_ratio": "1:1", "sound": True}


class FaultyLTX2(LTX2Engine):
    """The real ltx2 engine, whose pipeline hits `fault` at the end of step `at` (counted over all stages) of its
    first `times` runs."""

    def __init__(self, settings, fault: str, at: int = 2, times: int = 1) -> None:
        super().__init__(settings)
        self.fault, self.at, self.times = fault, at, times
        self.latents: list[weakref.ref] = []

    def step_callback(self, on_step, done_before=0):
        inner = super().step_callback(on_step, done_before)

        def step_end(pipe, step, t, kwargs):
            out = inner(pipe, step, t, kwargs)
            if self.times and done_before + step + 1 == self.at:
                self.latents.append(weakref.ref(kwargs["latents"]))
                if self.fault == "nan":
                    self.times -= 1
                    return {"latents": kwargs["latents"] * float("nan")}
                self.times -= 1
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            return out

        return step_end


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    db = make_db(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(db)
    return TaskStore(db)


def submit(store: TaskStore, body: dict = BODY) -> str:
    request = CreateTaskRequest.model_validate(body).normalized()
    task, _ = store.create(NewTask(owner="key_a", request=request, engine="ltx2", seed=1, request_hash="h"))
    return task.id


def run_next(worker: Worker):
    return worker.run_task(worker.tasks.claim_next(worker.worker_id, lease_s=30))


# (recipe, fault, global step, what the out-of-memory reason says about where)
CASES = {
    "max-oom": ("max", "oom", 2, "(at step 3 of 3)"),  # raised at the end of step 2: step 3 runs out
    "max-nan": ("max", "nan", 2, ""),
    "standard-oom-in-stage-2": ("standard", "oom", 4, "(at step 2 of 3 of the second stage (128x128))"),
    "fast-nan-in-stage-1": ("fast", "nan", 4, ""),
}


@pytest.mark.parametrize("case", CASES)
def test_a_fault_at_step_k_fails_the_task_and_the_next_one_succeeds(tiny_models, store, tmp_path, case) -> None:
    quality, fault, at, where = CASES[case]
    settings = engine_settings(tiny_models, "ltx2", data_dir=tmp_path / "data", steps=3, quality=quality)
    engine = FaultyLTX2(settings, fault, at=at)
    worker = Worker(settings, engine=engine, tasks=store)
    assert worker.load()
    first, second = submit(store), submit(store)

    assert run_next(worker) is TaskStatus.FAILED
    reason = store.get(first).reason
    if fault == "oom":
        assert reason.startswith(f"out of GPU memory at 128x128, 3 s per shot {where}: try a shorter "
                                 "duration"), reason
        assert "SHOTLINE_OFFLOAD=model" in reason and "Traceback" not in reason
    else:
        assert "invalid numbers (NaN) in the picture" in reason
    gc.collect()
    assert engine.latents and engine.latents[0]() is None  # nothing from the failed run is held any more
    assert not (settings.data_dir / "checkpoints" / first).exists()

    assert run_next(worker) is TaskStatus.SUCCEED
    assert store.get(second).status is TaskStatus.SUCCEED
    assert (settings.results_dir / f"{second}.mp4").stat().st_size > 0


def test_damaged_weights_fail_tasks_until_they_are_fixed_and_the_worker_never_exits(tiny_models, store,
                                                                                    tmp_path) -> None:
    weights = tmp_path / "wan"
    shutil.copytree(tiny_models["wan"], weights)
    damaged = weights / "vae" / "diffusion_pytorch_model.safetensors"
    damaged.write_bytes(b"not a safetensors file")
    settings = engine_settings(tiny_models, "wan", model=str(weights), data_dir=tmp_path / "data")
    worker = Worker(settings, tasks=store)

    assert worker.load() is False  # recorded, not raised: the process stays up
    assert f"weights file {damaged} is damaged" in worker.load_error
    (row,) = WorkerRegistry(store.db).live(max_age_s=60)
    assert row.state == "failed" and str(damaged) in row.detail  # what /readyz shows

    first = submit(store, {**BODY, "sound": False})
    assert run_next(worker) is TaskStatus.FAILED
    assert f"weights file {damaged} is damaged" in store.get(first).reason

    shutil.copy(tiny_models["wan"] / "vae" / "diffusion_pytorch_model.safetensors", damaged)  # the operator fixes it
    second = submit(store)
    assert run_next(worker) is TaskStatus.SUCCEED, store.get(second).reason
    assert worker.load_error is None and WorkerRegistry(store.db).live(max_age_s=60)[0].state == "ready"
