"""Plan once: the plan made at submit is stored with the task and the worker runs it as it is; a plan it
cannot run as it is (another PLAN_VERSION, one that no longer decodes, another engine setup, or none) is
planned again from the request. And within one run, a shot's audio stays in memory."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch  # noqa: F401

from shotline.api.app import build_service
from shotline.api.kling.serving import KlingServing
from shotline.config import Settings
from shotline.engines.base import Engine, plan_generation
from shotline.engines.registry import spec_for
from shotline.plans import PLAN_VERSION, dump_plan, load_plan
from shotline.protocol.kling import CreateTaskRequest
from shotline.status import TaskStatus
from shotline.worker import Worker

TWO_SHOTS = {"multi_prompt": [{"prompt": "a fox"}, {"prompt": "a wolf"}], "duration": 3, "aspect_ratio": "1:1",
             "sound": True, "extra": {"seed": 7}}


def _plan(settings: Settings, body: dict = TWO_SHOTS, steps: int = 0):
    spec = spec_for("tiny", settings)
    return spec, plan_generation(CreateTaskRequest.model_validate(body).normalized(), spec, seed=7, steps=steps)


def test_a_plan_round_trips_through_its_stored_form() -> None:
    spec, plan = _plan(Settings(_env_file=None), steps=3)
    stored = dump_plan(plan)
    assert json.loads(stored)["version"] == PLAN_VERSION
    assert load_plan(stored, spec) == plan


def test_a_plan_the_worker_cannot_run_as_it_is_is_planned_again() -> None:
    spec, plan = _plan(Settings(_env_file=None))
    stored = json.loads(dump_plan(plan))
    older = json.dumps({**stored, "version": PLAN_VERSION - 1})
    renamed = json.dumps({**stored, "plan": {k if k != "shots" else "clips": v for k, v in stored["plan"].items()}})
    other_engine = dump_plan(replace(plan, engine="ltx2"))
    other_size = dump_plan(replace(plan, width=plan.width * 2))
    for text in (None, "", "not json", "[]", older, renamed, other_engine, other_size):
        assert load_plan(text, spec) is None, text


class RecordingEngine(Engine):
    """The tiny engine, noting the plan of every shot it is asked for."""

    def __init__(self, inner: Engine) -> None:
        self.inner, self.spec, self.plans = inner, inner.spec, []

    def load(self) -> None:
        pass

    def generate_shot(self, plan, shot, on_step):
        self.plans.append(plan)
        return self.inner.generate_shot(plan, shot, on_step)

    def describe(self) -> dict[str, str]:
        return self.inner.describe()


@pytest.fixture(scope="module")
def tiny():
    from shotline.engines.tiny import TinyEngine

    engine = TinyEngine(Settings(_env_file=None))
    engine.load()
    return engine


def test_the_worker_runs_the_plan_made_at_submit(tmp_path: Path, tiny) -> None:
    api_settings = Settings(data_dir=tmp_path, api_keys=["k"], embedded_worker=False, steps=2, _env_file=None)
    service, _queue = build_service(api_settings)
    made_at_submit = KlingServing(service).create("key_a", CreateTaskRequest.model_validate(TWO_SHOTS))
    stored = service.tasks.get(made_at_submit)
    assert stored is not None and load_plan(stored.plan, service.spec) is not None
    # An old row, queued before plans were stored: the worker plans it (with its own settings).
    old_row = KlingServing(service).create("key_a", CreateTaskRequest.model_validate({**TWO_SHOTS, "sound": False}))
    with service.tasks.session() as s:
        from shotline.db.models import Task

        s.get(Task, old_row).plan_json = None
        s.commit()

    engine = RecordingEngine(tiny)
    worker = Worker(api_settings.model_copy(update={"steps": 3}), engine=engine, tasks=service.tasks)
    assert worker.run_one(made_at_submit) is TaskStatus.SUCCEED
    assert {p.steps for p in engine.plans} == {2}  # the API's plan, not the worker's settings
    assert engine.plans[0] == load_plan(stored.plan, service.spec)
    engine.plans.clear()
    assert worker.run_one(old_row) is TaskStatus.SUCCEED
    assert {p.steps for p in engine.plans} == {3}


def test_audio_stays_in_memory_within_a_run(tmp_path: Path, tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    loaded: list[str] = []
    real_load = np.load

    def counting_load(file, *args, **kwargs):
        loaded.append(str(file))
        return real_load(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", counting_load)
    settings = Settings(data_dir=tmp_path, api_keys=["k"], embedded_worker=False, steps=2, _env_file=None)
    service, _queue = build_service(settings)
    task_id = KlingServing(service).create("key_a", CreateTaskRequest.model_validate(TWO_SHOTS))
    worker = Worker(settings, engine=RecordingEngine(tiny), tasks=service.tasks)
    assert worker.run_one(task_id) is TaskStatus.SUCCEED
    assert not [f for f in loaded if f.endswith(".npz")]  # both shots' audio joined from memory, none read back
