"""Property tests on the request models and the planner, for every engine spec (no torch): every request
the model accepts plans to a frame count and resolution the engine runs, or is refused by the engine
naming a field; every request the model refuses names a field, in the contract's words.

Generated bodies mix valid values with wrong types, out-of-range numbers, unknown fields and odd shot
lists. Derandomized, so CI sees the same examples every run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shotline.config import Settings
from shotline.engines.base import EngineSpec, plan_generation
from shotline.engines.registry import spec_for
from shotline.errors import InputRejected
from shotline.protocol.kling import (
    DURATION_MAX_S,
    DURATION_MIN_S,
    PROMPT_MAX_CHARS,
    SHOTS_MAX,
    CreateTaskRequest,
)
from shotline.validation import invalid_request

PROPERTY = settings(max_examples=200, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _specs() -> dict[str, EngineSpec]:
    out = {}
    for engine in ("tiny", "ltx2", "wan"):
        presets = [""] if engine == "tiny" else ["", *spec_for(engine, Settings(_env_file=None)).presets]
        for preset in presets:
            for audio in ("", "stabilityai/stable-audio-open-1.0"):
                s = Settings(_env_file=None, engine=engine, preset=preset, audio_model=audio)
                out[f"{engine}-{preset or 'default'}-{'audio' if audio else 'noaudio'}"] = spec_for(engine, s)
    return out


SPECS = _specs()

anything = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.floats(allow_nan=False),
                     st.text(max_size=5), st.lists(st.integers(), max_size=2), st.just({}))
prompt = st.one_of(st.text(min_size=0, max_size=40), st.text(alphabet="😀猫é", min_size=PROMPT_MAX_CHARS - 1,
                                                             max_size=PROMPT_MAX_CHARS + 1))


def _maybe(value: st.SearchStrategy, wrong: st.SearchStrategy = anything) -> st.SearchStrategy:
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(value, value, value, value, value, value, wrong)


shot = st.fixed_dictionaries(
    {"prompt": _maybe(prompt)},
    optional={"duration": _maybe(st.integers(-1, 16)), "index": _maybe(st.integers(0, 7)),
              "typo": anything},
)
body = st.fixed_dictionaries(
    {},
    optional={
        "prompt": _maybe(prompt),
        "multi_prompt": _maybe(st.lists(shot, min_size=0, max_size=SHOTS_MAX + 1)),
        "duration": _maybe(st.integers(DURATION_MIN_S - 3, DURATION_MAX_S + 3)),
        "cfg_scale": _maybe(st.floats(-0.5, 1.5, allow_nan=False)),
        "aspect_ratio": _maybe(st.sampled_from(["16:9", "9:16", "1:1", "4:3", ""])),
        "sound": _maybe(st.booleans()),
        "negative_prompt": _maybe(prompt),
        "extra": _maybe(st.fixed_dictionaries({}, optional={"seed": st.integers(-1, 2**33)})),
        "promt": anything,
    },
)

text_prompt = st.one_of(st.text(min_size=1, max_size=40).filter(str.strip), st.text(alphabet="😀猫é", min_size=1,
                                                                                    max_size=PROMPT_MAX_CHARS))
options = {
    "cfg_scale": st.floats(0, 1, allow_nan=False),
    "aspect_ratio": st.sampled_from(["16:9", "9:16", "1:1"]),
    "sound": st.booleans(),
    "negative_prompt": st.text(max_size=20),
    "extra": st.fixed_dictionaries({}, optional={"seed": st.integers(0, 2**32 - 1)}),
}
plausible_body = st.one_of(
    st.fixed_dictionaries({"prompt": text_prompt},
                          optional={"duration": st.integers(DURATION_MIN_S, DURATION_MAX_S), **options}),
    st.fixed_dictionaries(
        {"multi_prompt": st.lists(st.fixed_dictionaries({"prompt": text_prompt},
                                                        optional={"duration": st.integers(1, 5)}),
                                  min_size=1, max_size=SHOTS_MAX)},
        optional={"duration": st.integers(DURATION_MIN_S, DURATION_MAX_S), **options}),
)


def _check_accepted(request: CreateTaskRequest, spec: EngineSpec) -> None:
    normalized = request.normalized()
    plan = plan_generation(normalized, spec, seed=7)
    try:
        spec.check_inputs(plan)
    except InputRejected as err:  # the engine may refuse (no sound model, too long per shot): by name
        assert err.field in ("sound", "duration", "multi_prompt", "aspect_ratio"), err
        assert err.message.startswith(err.field)
        return
    assert DURATION_MIN_S <= normalized.duration <= DURATION_MAX_S
    assert plan.total_frames == normalized.duration * spec.fps
    assert sum(s.frames for s in plan.shots) == plan.total_frames
    starts = [s.start_frame for s in plan.shots]
    assert starts == [sum(s.frames for s in plan.shots[:i]) for i in range(len(plan.shots))]
    for s, asked in zip(plan.shots, normalized.shots, strict=True):
        assert s.frames >= spec.fps  # at least one second per shot
        if asked.duration is not None:
            assert s.frames == asked.duration * spec.fps
        g = s.generation_frames
        assert g > s.frames and (g - 1) % spec.frame_multiple == 0 and g <= spec.max_generation_frames
        assert g - s.frames <= spec.frame_multiple + 1  # the smallest count the rule allows
    w, h = plan.width, plan.height
    assert w > 0 and h > 0 and w % spec.size_multiple == 0 and h % spec.size_multiple == 0
    shape = {"16:9": w > h, "9:16": w < h, "1:1": w == h}[request.aspect_ratio]
    assert shape, (request.aspect_ratio, w, h)
    lo, hi = sorted(spec.guidance_range)
    assert lo <= plan.guidance_scale <= hi
    assert plan.seed == 7 and [s.seed for s in plan.shots] == list(range(7, 7 + len(plan.shots)))


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@PROPERTY
@given(data=st.one_of(plausible_body, body))
def test_every_body_is_planned_or_refused_by_name(spec_name: str, data: dict[str, Any]) -> None:
    spec = SPECS[spec_name]
    try:
        request = CreateTaskRequest.model_validate_json(json.dumps(data))
    except ValidationError as err:
        refusal = invalid_request(err.errors(), CreateTaskRequest)
        assert refusal.status_code == 400 and refusal.field, refusal
        assert refusal.message.startswith(refusal.field + ":"), refusal.message
        assert len(refusal.message) < 400
        for item in refusal.metadata["errors"]:
            assert item["field"] and item["message"].startswith(item["field"])
        return
    _check_accepted(request, spec)


@PROPERTY
@given(durations=st.lists(st.one_of(st.none(), st.integers(1, 15)), min_size=1, max_size=SHOTS_MAX),
       total=st.one_of(st.none(), st.integers(DURATION_MIN_S, DURATION_MAX_S)))
def test_shot_splits_are_frame_exact_on_every_engine(durations: list[int | None], total: int | None) -> None:
    """Shots with and without durations: accepted exactly when the numbers add up, and then frame-exact."""
    shots = [{"prompt": f"shot {i}", **({"duration": d} if d is not None else {})} for i, d in enumerate(durations)]
    data = {"multi_prompt": shots, **({"duration": total} if total is not None else {})}
    given_sum = sum(d for d in durations if d is not None)
    open_shots = sum(d is None for d in durations)
    expected_total = total if (total is not None or open_shots) else given_sum
    if expected_total is None:
        expected_total = 5
    fits = (DURATION_MIN_S <= expected_total <= DURATION_MAX_S
            and (expected_total - given_sum >= open_shots if open_shots else expected_total == given_sum))
    try:
        request = CreateTaskRequest.model_validate(data)
    except ValidationError as err:
        assert not fits, (data, err)
        assert invalid_request(err.errors(), CreateTaskRequest).field == "multi_prompt"
        return
    assert fits, data
    assert request.normalized().duration == expected_total
    for spec in SPECS.values():
        _check_accepted(request, spec)
