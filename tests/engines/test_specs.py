"""Engine capabilities as plain data (no torch): every preset obeys its model's size rule, frame rules and
limits fit the contract, settings pick presets and steps, and impossible requests are refused at submit."""

from __future__ import annotations

import pytest

from shotline.config import Settings
from shotline.engines.base import plan_generation
from shotline.engines.registry import get_spec, names, spec_for
from shotline.engines.specs import LTX2, WAN
from shotline.errors import InputRejected
from shotline.protocol.kling import CreateTaskRequest


def plan(spec, **body):
    return plan_generation(CreateTaskRequest.model_validate(body).normalized(), spec, seed=7)


def test_registry_knows_the_three_engines() -> None:
    assert names() == ["ltx2", "tiny", "wan"]
    with pytest.raises(ValueError, match="choose one of: ltx2, tiny, wan"):
        get_spec("sora")


@pytest.mark.parametrize("spec", [LTX2, WAN], ids=lambda s: s.name)
def test_every_preset_obeys_the_size_rule_and_the_aspect_ratio(spec) -> None:
    assert spec.resolutions == spec.presets[next(iter(spec.presets))]
    for table in spec.presets.values():
        assert set(table) == {"16:9", "9:16", "1:1"}
        for aspect, (w, h) in table.items():
            assert w % spec.size_multiple == 0 and h % spec.size_multiple == 0, (aspect, w, h)
            assert {"16:9": w > h, "9:16": w < h, "1:1": w == h}[aspect]
        assert table["9:16"] == table["16:9"][::-1]


@pytest.mark.parametrize("spec", [LTX2, WAN], ids=lambda s: s.name)
@pytest.mark.parametrize("duration", [3, 15])
def test_frame_rule_and_the_longest_shot(spec, duration: int) -> None:
    p = plan(spec, prompt="x", duration=duration)
    (shot,) = p.shots
    assert shot.frames == duration * spec.fps
    assert (shot.generation_frames - 1) % spec.frame_multiple == 0 and shot.generation_frames > shot.frames
    spec.check_inputs(p)  # the contract's longest single shot fits both engines


def test_cfg_scale_maps_onto_each_engines_guidance() -> None:
    assert (plan(LTX2, prompt="x").guidance_scale, plan(LTX2, prompt="x").audio_guidance_scale) == (3.0, 7.0)
    assert (plan(WAN, prompt="x").guidance_scale, plan(WAN, prompt="x").audio_guidance_scale) == (5.0, 7.0)
    assert plan(WAN, prompt="x", cfg_scale=0).guidance_scale == 2.0
    assert plan(WAN, prompt="x", cfg_scale=1).guidance_scale == 8.0


def test_settings_choose_preset_and_steps() -> None:
    s = Settings(_env_file=None, preset="540p", quality="draft")
    spec = spec_for("ltx2", s)
    assert spec.resolutions["16:9"] == (1024, 576) and spec.default_steps == LTX2.draft_steps
    assert spec.recipe.name == "draft"
    assert spec_for("ltx2", Settings(_env_file=None, preset="1080p")).resolutions["16:9"] == (1920, 1088)
    assert spec_for("wan", Settings(_env_file=None)).resolutions["16:9"] == (832, 480)
    assert spec_for("wan", Settings(_env_file=None)).default_steps == 50
    assert spec_for("tiny", Settings(_env_file=None, preset="720p")).resolutions == get_spec("tiny").resolutions
    with pytest.raises(ValueError, match="SHOTLINE_PRESET='4k' is not a preset of engine wan; choose one of: "
                                         "480p, 720p, ti2v-720p, test"):
        spec_for("wan", Settings(_env_file=None, preset="4k"))


def test_wan_without_an_audio_model_refuses_sound_at_submit() -> None:
    silent = spec_for("wan", Settings(_env_file=None))
    silent.check_inputs(plan(silent, prompt="x", sound=False))
    with pytest.raises(InputRejected) as e:
        silent.check_inputs(plan(silent, prompt="x", sound=True))
    assert e.value.field == "sound" and "SHOTLINE_AUDIO_MODEL" in e.value.message
    assert spec_for("wan", Settings(_env_file=None, audio_model="some/dir")).sound_available
    assert spec_for("ltx2", Settings(_env_file=None)).sound_available  # joint audio needs no extra model
