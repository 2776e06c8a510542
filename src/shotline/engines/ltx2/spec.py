"""LTX-2.x's capabilities and recipes as plain data (the API plans with them without importing torch).

Recipes (`SHOTLINE_QUALITY`), as LTX-2's own pipelines run them:

    fast      first stage at half size, 8 distilled steps; x2 latent upsampler; second stage at full size, 3
              distilled steps. No guidance pass: one transformer pass per step.
    standard  first stage at half size with guidance (classifier-free, spatio-temporal, modality: cfg_scale and
              negative_prompt act here, on picture and sound); upsampler; the same 3-step distilled second stage
              (the distilled LoRA, or the distilled checkpoint).
    max       one stage at full size with full guidance: 40 steps of 4 transformer passes (the old default).
    draft     `max` with half the steps.

Two-stage sizes must be divisible by 64 (the half-size stage still lands on the VAE's 32-pixel grid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shotline.engines.base import SINGLE, TEST_SIZES, EngineSpec, ModelLoadError, Recipe, Stage

if TYPE_CHECKING:
    from shotline.config import Settings

# cfg_scale → guidance, linear. LTX-2's recommended values (3.0 picture, 7.0 sound, the same for 2.0, 2.3 and
# 2.5) sit at cfg_scale 0.5, the contract's default; both stay above 1 so the negative prompt always applies.
LTX2_GUIDANCE = (1.5, 4.5)
LTX2_AUDIO_GUIDANCE = (3.0, 11.0)

# diffusers.pipelines.ltx2.utils: DISTILLED_SIGMA_VALUES has 8 entries, STAGE_2_DISTILLED_SIGMA_VALUES 3.
DISTILLED_STEPS = 8
STAGE_2_STEPS = 3

FAST = Recipe("fast", (
    Stage("first stage", scale=2, steps=DISTILLED_STEPS, guided=False, distilled=True),
    Stage("second stage", scale=1, steps=STAGE_2_STEPS, guided=False, distilled=True),
), note="recipe fast runs a distilled model without guidance, so cfg_scale and negative_prompt have no effect "
        "(SHOTLINE_QUALITY=standard applies them)")
STANDARD = Recipe("standard", (
    Stage("first stage", scale=2),
    Stage("second stage", scale=1, steps=STAGE_2_STEPS, guided=False, distilled=True),
), note="cfg_scale and negative_prompt guide the first (half-size) stage, picture and sound; the distilled "
        "second stage refines without guidance")
MAX = SINGLE
DRAFT = Recipe("draft", SINGLE.stages, note=SINGLE.note)
RECIPES = {r.name: r for r in (FAST, STANDARD, MAX, DRAFT)}

PRESETS = {
    "720p": {"16:9": (1280, 704), "9:16": (704, 1280), "1:1": (960, 960)},
    # 1920x1088 class (about 2.1 megapixels), which the two-stage recipes make affordable.
    "1080p": {"16:9": (1920, 1088), "9:16": (1088, 1920), "1:1": (1472, 1472)},
    # About 0.6 megapixels, for 24 GB cards.
    "540p": {"16:9": (1024, 576), "9:16": (576, 1024), "1:1": (768, 768)},
    "test": TEST_SIZES,
}

# LTX-2.x (joint audio + video). Sizes: multiples of 32 (VAE 32x), 64 for two stages; frames 8k+1 (VAE 8x in
# time). The model card allows up to 20 s per clip.
LTX2 = EngineSpec(
    name="ltx2",
    fps=24,
    resolutions=PRESETS["720p"],
    frame_multiple=8,
    max_generation_frames=8 * 60 + 1,
    native_audio=True,
    guidance_range=LTX2_GUIDANCE,
    audio_guidance_range=LTX2_AUDIO_GUIDANCE,
    default_steps=40,
    draft_steps=20,
    size_multiple=32,
    presets=PRESETS,
    recipes=RECIPES,
)


def auto_recipe(settings: Settings) -> str:
    """`SHOTLINE_QUALITY=auto`: what the weights support best (`versions.LTX2Weights.auto_recipe`), read from
    their configs where this process can see them; `max` where it cannot (set SHOTLINE_QUALITY there)."""
    from shotline.engines.ltx2.versions import inspect_weights
    from shotline.engines.weights import local_folder

    folder = local_folder(settings.model, settings.model_revision)
    if folder is None:
        return "max"
    try:
        return inspect_weights(folder, settings.distill_lora, settings.latent_upsampler).auto_recipe()
    except ModelLoadError:
        return "max"  # the worker's load says what is wrong with the weights
