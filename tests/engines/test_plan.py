"""Planning (no torch): resolution per aspect ratio, exact frame counts, frame-exact shot shares, the
model's frame rule, guidance mapping and the seed schedule."""

from __future__ import annotations

import pytest

from shotline.engines.base import plan_generation, split_frames
from shotline.engines.specs import TINY
from shotline.errors import InputRejected
from shotline.protocol.kling import CreateTaskRequest


def plan(**body):
    return plan_generation(CreateTaskRequest.model_validate(body).normalized(), TINY, seed=100)


@pytest.mark.parametrize(("aspect", "landscape", "portrait"), [("16:9", True, False), ("9:16", False, True),
                                                               ("1:1", False, False)])
def test_aspect_ratio_fixes_resolution(aspect: str, landscape: bool, portrait: bool) -> None:
    p = plan(prompt="x", aspect_ratio=aspect)
    assert (p.width > p.height) is landscape and (p.height > p.width) is portrait
    assert p.width % 32 == 0 and p.height % 32 == 0


@pytest.mark.parametrize("duration", range(3, 16))
def test_frames_are_exact_and_generation_obeys_the_rule(duration: int) -> None:
    p = plan(prompt="x", duration=duration)
    assert p.total_frames == duration * TINY.fps
    (shot,) = p.shots
    assert shot.frames == p.total_frames
    assert (shot.generation_frames - 1) % 8 == 0 and shot.generation_frames > shot.frames


def test_open_shots_share_the_rest_frame_exactly() -> None:
    p = plan(multi_prompt=[{"prompt": "a"}, {"prompt": "b", "duration": 2}, {"prompt": "c"}], duration=7)
    assert [s.frames for s in p.shots] == [60, 48, 60]
    assert sum(s.frames for s in p.shots) == p.total_frames
    assert [s.start_frame for s in p.shots] == [0, 60, 108]
    assert [s.seed for s in p.shots] == [100, 101, 102]
    p = plan(multi_prompt=[{"prompt": c} for c in "abcde"], duration=7)
    assert [s.frames for s in p.shots] == [34, 34, 34, 33, 33]


def test_split_frames_gives_the_remainder_to_earlier_shots() -> None:
    assert split_frames(100, [None, None, None]) == [34, 33, 33]
    assert split_frames(100, [10, None, 20, None]) == [10, 35, 20, 35]


def test_cfg_scale_maps_linearly_onto_both_guidances() -> None:
    assert (plan(prompt="x", cfg_scale=0).guidance_scale, plan(prompt="x", cfg_scale=0).audio_guidance_scale) == (1.5, 3.0)
    assert plan(prompt="x", cfg_scale=0.5).guidance_scale == 3.0
    assert plan(prompt="x", cfg_scale=0.5).audio_guidance_scale == 7.0
    assert (plan(prompt="x", cfg_scale=1).guidance_scale, plan(prompt="x", cfg_scale=1).audio_guidance_scale) == (4.5, 11.0)


def test_check_inputs_refuses_too_long_a_shot() -> None:
    from dataclasses import replace

    short = replace(TINY, max_generation_frames=8 * 10 + 1)
    p = plan_generation(CreateTaskRequest(prompt="x", duration=5).normalized(), short, seed=0)
    with pytest.raises(InputRejected) as e:
        short.check_inputs(p)
    assert e.value.field == "duration" and "at most 3 s" in e.value.message
