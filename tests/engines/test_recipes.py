"""Recipes (SHOTLINE_QUALITY) as planned data, chosen from what the weights hold, and LTX-2.x versions told
apart by their configs. Planning needs no torch; the weights layouts are the tiny ones `shotline models tiny`
writes, rearranged the way each real repository ships."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from shotline.config import Settings
from shotline.engines.base import Engine, plan_generation
from shotline.engines.ltx2.versions import UnknownLayout, detect_version, inspect_weights
from shotline.engines.registry import spec_for
from shotline.protocol.kling import CreateTaskRequest


def plan(spec, **body):
    return plan_generation(CreateTaskRequest.model_validate(body).normalized(), spec, seed=7)


def ltx2(**settings) -> object:
    return spec_for("ltx2", Settings(_env_file=None, **settings))


def stages(p) -> list[tuple]:
    return [(s.name, s.width, s.height, s.steps, s.guided, s.distilled) for s in p.stages]


def test_fast_is_two_distilled_stages_at_half_then_full_size() -> None:
    p = plan(ltx2(quality="fast"), prompt="x", aspect_ratio="16:9")
    assert p.recipe == "fast" and (p.width, p.height) == (1280, 704)
    assert stages(p) == [("first stage", 640, 352, 8, False, True), ("second stage", 1280, 704, 3, False, True)]
    assert p.shot_steps == 11 and p.total_steps == 11
    assert "cfg_scale and negative_prompt have no effect" in p.guidance_note


def test_standard_guides_the_first_stage_and_refines_with_the_distilled_model() -> None:
    p = plan(ltx2(quality="standard", preset="1080p"), multi_prompt=[{"prompt": "a"}, {"prompt": "b"}],
             duration=6, aspect_ratio="9:16")
    assert stages(p) == [("first stage", 544, 960, 40, True, False), ("second stage", 1088, 1920, 3, False, True)]
    assert p.shot_steps == 43 and p.total_steps == 86
    assert "guide the first (half-size) stage" in p.guidance_note


def test_max_and_draft_are_one_guided_stage_and_steps_override_only_the_model_chosen_ones() -> None:
    assert stages(plan(ltx2(quality="max"), prompt="x")) == [("denoise", 1280, 704, 40, True, False)]
    assert stages(plan(ltx2(quality="draft"), prompt="x")) == [("denoise", 1280, 704, 20, True, False)]
    spec = ltx2(quality="standard")
    p = plan_generation(CreateTaskRequest(prompt="x").normalized(), spec, seed=1, steps=12)
    assert [s.steps for s in p.stages] == [12, 3]  # the distilled schedule keeps its 3 steps


def test_every_ltx2_preset_runs_two_stages_and_a_preset_that_cannot_is_refused(monkeypatch) -> None:
    for preset in ("720p", "1080p", "540p", "test"):
        for size in ltx2(quality="fast", preset=preset).resolutions.values():
            assert size[0] % 64 == 0 and size[1] % 64 == 0, (preset, size)
    import shotline.engines.ltx2 as family

    odd = replace(family.SPEC, presets={"odd": {"16:9": (960, 544), "9:16": (544, 960), "1:1": (704, 704)}})
    monkeypatch.setattr(family, "SPEC", odd)
    with pytest.raises(ValueError, match="recipe fast of engine ltx2 needs sizes divisible by 64"):
        ltx2(quality="fast", preset="odd")
    assert ltx2(quality="max", preset="odd").recipe.name == "max"


def test_unknown_quality_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of: auto, fast, standard, max, draft"):
        spec_for("ltx2", Settings.model_construct(**{**Settings(_env_file=None).model_dump(), "quality": "ultra"}))


def test_results_say_which_recipe_made_them() -> None:
    class Named(Engine):
        spec = ltx2(quality="fast")

        def load(self): ...

        def generate_shot(self, plan, shot, on_step): ...

    labels = Named().describe_plan(plan(Named.spec, prompt="x"))
    assert labels["recipe"] == "fast" and "cfg_scale and negative_prompt have no effect" in labels["guidance"]


# ---------------------------------------------------------------------------------------- weights layouts


def layout(tiny_models, tmp_path: Path, kind: str) -> Path:
    """The tiny LTX-2 folder rearranged as a real repository ships: `dev` (full transformer, distilled LoRA,
    upsampler: Lightricks/LTX-2), `2.5` (distilled transformer/ beside transformer_full/, a scheduler set for
    distilled sigmas: LTX-2.5-Diffusers), `distilled` (a distilled checkpoint alone), `bare` (no upsampler,
    no LoRA: one stage only)."""
    root = tmp_path / kind
    shutil.copytree(tiny_models["ltx2"], root)
    scheduler = root / "scheduler" / "scheduler_config.json"
    if kind in ("2.5", "distilled"):
        config = json.loads(scheduler.read_text())
        scheduler.write_text(json.dumps({**config, "use_dynamic_shifting": False, "shift_terminal": None}))
    if kind == "2.5":
        shutil.copytree(root / "transformer", root / "transformer_full")
    if kind in ("distilled", "bare"):
        for lora in root.glob("*distilled-lora*.safetensors"):
            lora.unlink()
    if kind == "bare":
        shutil.rmtree(root / "latent_upsampler")
    return root


@pytest.mark.parametrize(("kind", "recipes", "auto"), [
    ("dev", ["fast", "standard", "max", "draft"], "standard"),
    ("2.5", ["fast", "standard", "max", "draft"], "fast"),
    ("distilled", ["fast"], "fast"),
    ("bare", ["max", "draft"], "max"),
])
def test_auto_picks_what_the_weights_support_best(tiny_models, tmp_path, kind, recipes, auto) -> None:
    root = layout(tiny_models, tmp_path, kind)
    assert inspect_weights(root).recipes() == recipes
    assert ltx2(model=str(root)).recipe.name == auto
    assert ltx2(model=str(tmp_path / "not-here")).recipe.name == "max"  # weights this process cannot see


def test_settings_point_at_a_lora_and_upsampler_elsewhere(tiny_models, tmp_path) -> None:
    root = layout(tiny_models, tmp_path, "bare")
    lora = next(tiny_models["ltx2"].glob("*distilled-lora*.safetensors"))
    weights = inspect_weights(root, str(lora), str(tiny_models["ltx2"] / "latent_upsampler"))
    assert weights.lora == lora and weights.recipes()[:2] == ["fast", "standard"]
    with pytest.raises(UnknownLayout, match="SHOTLINE_DISTILL_LORA=/nowhere.safetensors: no such file"):
        inspect_weights(root, "/nowhere.safetensors")
    with pytest.raises(UnknownLayout, match=f"SHOTLINE_LATENT_UPSAMPLER={tmp_path}: no latent upsampler there"):
        inspect_weights(root, "", str(tmp_path))


TRANSFORMER = {"_class_name": "LTX2VideoTransformer3DModel"}


@pytest.mark.parametrize(("transformer", "text_encoder", "version"), [
    ({}, "gemma3", "2.0"),
    ({"gated_attn": True, "cross_attn_mod": True}, "gemma3", "2.3"),
    ({"gated_attn": True, "ff_bias": False, "use_keyframes_abs_pos_embedding": True}, "gemma4_unified", "2.5"),
])
def test_versions_are_told_apart_by_their_configs(transformer, text_encoder, version) -> None:
    assert detect_version({**TRANSFORMER, **transformer}, {"model_type": text_encoder}, "here") == version


def test_an_unknown_layout_fails_with_what_was_found() -> None:
    with pytest.raises(UnknownLayout, match="here: transformer WanTransformer3DModel"):
        detect_version({"_class_name": "WanTransformer3DModel"}, {"model_type": "umt5"}, "here")
    with pytest.raises(UnknownLayout) as e:
        detect_version({**TRANSFORMER, "gated_attn": True, "ff_bias": False}, {"model_type": "gemma3"}, "here")
    assert "gated_attn=True, ff_bias=False" in str(e.value) and "text encoder gemma3" in str(e.value)
    assert "LTX-2.5 with Gemma 4" in str(e.value)


# ------------------------------------------------------------------------------------------------- wan


def test_wan_fast_is_four_unguided_steps_and_auto_picks_it_when_a_lora_is_set() -> None:
    fast = spec_for("wan", Settings(_env_file=None, distill_lora="/some/lora.safetensors"))
    assert fast.recipe.name == "fast"
    p = plan(fast, prompt="x")
    assert [(s.steps, s.guided, s.distilled) for s in p.stages] == [(4, False, True)]
    assert spec_for("wan", Settings(_env_file=None)).recipe.name == "standard"
    assert spec_for("wan", Settings(_env_file=None, quality="max")).recipe.name == "standard"  # no two stages


def test_wan_ti2v_5b_weights_get_their_native_preset(tmp_path) -> None:
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKLWan", "z_dim": 48}))
    spec = spec_for("wan", Settings(_env_file=None, model=str(tmp_path)))
    assert spec.fps == 24 and spec.resolutions["16:9"] == (1280, 704)
    p = plan(spec, prompt="x", duration=5)
    assert p.total_frames == 120 and (p.shots[0].generation_frames - 1) % 4 == 0
    assert spec_for("wan", Settings(_env_file=None, model=str(tmp_path), preset="480p")).fps == 16
