"""LTX-2's two-stage recipes on tiny weights loaded from disk: progress counts both stages, cancel stops in
either, the distilled LoRA acts only where the recipe puts it, and the LTX-2.5 layout (distilled transformer
beside the full one, no LoRA) loads both and runs stage 2 on the distilled one."""

from __future__ import annotations

import numpy as np
import pytest

from shotline.engines.base import plan_generation
from shotline.engines.registry import create_engine
from shotline.errors import GenerationError, GenerationStopped
from shotline.protocol.kling import CreateTaskRequest
from shotline.worker import Progress
from tests.engines.conftest import engine_settings
from tests.engines.test_recipes import layout

BODY = {"prompt": "a fox", "duration": 3, "aspect_ratio": "1:1", "sound": True}


@pytest.fixture(scope="module")
def engines(tiny_models):
    out = {}
    for quality in ("fast", "standard"):
        engine = create_engine("ltx2", engine_settings(tiny_models, "ltx2", quality=quality))
        engine.load()
        out[quality] = engine
    return out


def make_plan(engine, **body):
    return plan_generation(CreateTaskRequest.model_validate({**BODY, **body}).normalized(), engine.spec, seed=3,
                           steps=2)


def frames(engine, plan) -> np.ndarray:
    return np.stack(list(engine.generate_shot(plan, plan.shots[0], lambda _d: None).frames))


class Store:
    """What Progress writes to: the percents, in order; never a cancel."""

    def __init__(self) -> None:
        self.percents: list[int] = []

    def set_progress(self, _task_id, _worker_id, percent) -> None:
        self.percents.append(percent)

    def cancel_requested(self, _task_id) -> bool:
        return False


class Task:
    id = "t"


@pytest.mark.parametrize("quality", ["fast", "standard"])
def test_progress_counts_the_steps_of_both_stages(engines, quality) -> None:
    engine = engines[quality]
    plan = make_plan(engine, prompt="", multi_prompt=[{"prompt": "a"}, {"prompt": "b"}], duration=4)
    store = Store()
    progress = Progress(store, Task(), "w", plan, lambda: False)  # type: ignore[arg-type]
    assert progress.total == 2 * (plan.shot_steps + 1) and plan.shot_steps == {"fast": 11, "standard": 5}[quality]
    for shot in plan.shots:
        engine.generate_shot(plan, shot, progress.for_shot(shot))
        progress.shot_encoded(shot)
    assert store.percents == sorted(set(store.percents)) and store.percents[-1] == 99
    # Stage 2's steps moved it too: the first shot ends at half, not at its first stage's share.
    assert 49 in store.percents


@pytest.mark.parametrize(("quality", "stop_at", "seen"), [
    ("fast", 3, [1, 2, 3]),  # in the first stage
    ("fast", 9, [1, 2, 3, 4, 5, 6, 7, 8, 8, 9]),  # in the second (8 again: the check after the upsampler)
    ("standard", 2, [1, 2, 2]),  # between the stages, right after the upsampler
])
def test_cancel_stops_in_either_stage(engines, quality, stop_at, seen) -> None:
    engine = engines[quality]
    plan = make_plan(engine)
    calls: list[int] = []

    def on_step(done: int) -> None:
        calls.append(done)
        if len(calls) == len(seen):
            raise GenerationStopped("canceled")

    with pytest.raises(GenerationStopped):
        engine.generate_shot(plan, plan.shots[0], on_step)
    assert calls == seen
    if stop_at == 9:  # the next run is unaffected by an abort inside stage 2 (the LoRA is off again, and so on)
        assert np.array_equal(frames(engine, plan), frames(engines["fast"], plan))


def test_the_distilled_lora_acts_in_the_distilled_stage_only(engines) -> None:
    engine = engines["standard"]
    plan = make_plan(engine, sound=False)
    with_lora = frames(engine, plan)
    engine.pipeline.set_adapters("distilled", 0.0)  # the same run with the adapter weighing nothing
    try:
        without = frames(engine, plan)
    finally:
        engine.pipeline.set_adapters("distilled", 1.0)
    assert not np.array_equal(with_lora, without)
    assert not any(getattr(m, "merged", False) for m in engine.pipeline.transformer.modules())  # never fused
    assert np.array_equal(with_lora, frames(engine, plan))  # switched off again after each stage


def test_a_plan_the_worker_was_not_loaded_for_fails_with_the_setting_to_fix(tiny_models, engines) -> None:
    bare = create_engine("ltx2", engine_settings(tiny_models, "ltx2", quality="max"))
    bare.load()
    with pytest.raises(GenerationError, match="set the same SHOTLINE_QUALITY on the API servers and the workers"):
        bare.generate_shot(make_plan(engines["fast"]), make_plan(engines["fast"]).shots[0], lambda _d: None)


@pytest.mark.parametrize("quality", ["fast", "standard"])
def test_the_ltx2_5_layout_runs_on_its_distilled_transformer(tiny_models, tmp_path, quality) -> None:
    root = layout(tiny_models, tmp_path, "2.5")
    for lora in root.glob("*distilled-lora*.safetensors"):
        lora.unlink()  # stage 2 of standard then needs the distilled transformer itself
    engine = create_engine("ltx2", engine_settings(tiny_models, "ltx2", model=str(root), quality=quality))
    engine.load()
    assert engine.lora is False
    assert engine.main_distilled is (quality == "fast")
    assert (engine.distilled_transformer is not None) is (quality == "standard")
    out = engine.generate_shot(make_plan(engine), make_plan(engine).shots[0], lambda _d: None)
    assert len(out.frames) == 72 and out.audio is not None
