"""The tiny engine: the real LTX2Pipeline class with random weights, run for real on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from shotline.config import Settings
from shotline.engines.base import GenerationPlan, ShotPlan, plan_generation
from shotline.errors import GenerationStopped
from shotline.protocol.kling import CreateTaskRequest


@pytest.fixture(scope="module")
def engine():
    from shotline.engines.tiny import TinyEngine

    e = TinyEngine(Settings(_env_file=None))
    e.load()
    return e


def make_plan(engine, **body) -> GenerationPlan:
    return plan_generation(CreateTaskRequest.model_validate(body).normalized(), engine.spec, seed=42, steps=3)


def frames_of(engine, plan: GenerationPlan, shot: ShotPlan) -> np.ndarray:
    out = engine.generate_shot(plan, shot, lambda _done: None)
    return np.stack(list(out.frames))


def test_shot_has_exact_frames_size_and_audio(engine) -> None:
    plan = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="9:16", sound=True)
    out = engine.generate_shot(plan, plan.shots[0], lambda _d: None)
    assert len(out.frames) == 72
    frame = out.frames[0]
    assert frame.dtype == np.uint8 and frame.shape == (plan.height, plan.width, 3)
    assert out.audio is not None and out.audio.shape[0] == 2 and out.sample_rate == 16000
    # The audio covers the shot to within a few ms (LTX-2 sizes it slightly short; the joiner pads).
    assert abs(out.audio.shape[1] / out.sample_rate - 3.0) < 0.05


def test_no_sound_means_no_audio(engine) -> None:
    plan = make_plan(engine, prompt="a fox", duration=3)
    assert engine.generate_shot(plan, plan.shots[0], lambda _d: None).audio is None


def test_same_seed_same_video_other_seed_other_video(engine) -> None:
    plan = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1")
    a, b = frames_of(engine, plan, plan.shots[0]), frames_of(engine, plan, plan.shots[0])
    assert np.array_equal(a, b)
    other = plan_generation(CreateTaskRequest(prompt="a fox", duration=3, aspect_ratio="1:1").normalized(),
                            engine.spec, seed=43, steps=3)
    assert not np.array_equal(a, frames_of(engine, other, other.shots[0]))


def test_negative_prompt_and_cfg_reach_the_model(engine) -> None:
    base = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1")
    neg = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1", negative_prompt="blurry, loud")
    cfg = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1", cfg_scale=1.0)
    ref = frames_of(engine, base, base.shots[0])
    assert not np.array_equal(ref, frames_of(engine, neg, neg.shots[0]))
    assert not np.array_equal(ref, frames_of(engine, cfg, cfg.shots[0]))


def test_each_shot_equals_the_same_shot_generated_alone(engine) -> None:
    plan = make_plan(engine, multi_prompt=[{"prompt": "a fox"}, {"prompt": "a hare", "duration": 1},
                                           {"prompt": "an owl"}], duration=4, aspect_ratio="1:1")
    assert [s.frames for s in plan.shots] == [36, 24, 36]
    for shot in plan.shots:
        in_sequence = frames_of(engine, plan, shot)
        alone_plan = GenerationPlan(**{**plan.__dict__, "shots": (shot,), "total_frames": shot.frames})
        alone = frames_of(engine, alone_plan, ShotPlan(0, shot.prompt, shot.frames, shot.generation_frames,
                                                       shot.seed, 0))
        assert in_sequence.shape[0] == shot.frames
        assert np.array_equal(in_sequence, alone)


def test_stop_at_step_k_runs_no_further_step(engine) -> None:
    plan = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1")
    plan = GenerationPlan(**{**plan.__dict__, "steps": 6})
    seen: list[int] = []

    def on_step(done: int) -> None:
        seen.append(done)
        if done == 2:
            raise GenerationStopped("canceled")

    with pytest.raises(GenerationStopped):
        engine.generate_shot(plan, plan.shots[0], on_step)
    assert seen == [1, 2]
    # The same pipeline's next run is unaffected by the abort.
    a = frames_of(engine, plan, plan.shots[0])
    b = frames_of(engine, plan, plan.shots[0])
    assert np.array_equal(a, b)
