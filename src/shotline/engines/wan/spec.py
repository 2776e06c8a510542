"""Wan 2.1 / 2.2 text-to-video: capabilities and recipes as plain data.

Sizes: multiples of 16 (VAE 8x and patch 2; 32 for Wan 2.2 TI2V-5B, whose VAE is 16x); frames 4k+1; 16 fps,
the rate Wan 2.1 and 2.2-A14B were trained at (TI2V-5B: 24 fps at 1280x704, its `ti2v-720p` preset, chosen
by default when the weights are TI2V-5B). 480p fits every Wan T2V checkpoint (1.3B included); 720p is for the
14B models. Guidance: cfg_scale 0.5 -> 5.0, Wan's own default; sound comes from a text-to-audio model whose
guidance maps like LTX-2's (0.5 -> 7.0, StableAudio's default). 15 s per shot: longer than the 81 frames Wan
was trained on, which it makes at a cost in motion coherence (use shots for long videos).

Recipes (`SHOTLINE_QUALITY`):

    fast      4 steps with a step-distilled LoRA (LightX2V / Wan2.2-Lightning, SHOTLINE_DISTILL_LORA; for
              2.2 A14B also SHOTLINE_DISTILL_LORA_2 for the low-noise expert), no classifier-free guidance:
              one transformer pass per step instead of two. The default when SHOTLINE_DISTILL_LORA is set.
    standard  50 steps with classifier-free guidance (two passes per step). `max` is the same run: Wan has no
              two-stage recipe.
    draft     standard with half the steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shotline.engines.base import TEST_SIZES, EngineSpec, Recipe, Stage

if TYPE_CHECKING:
    from shotline.config import Settings

FAST_STEPS = 4  # what LightX2V's and Wan2.2-Lightning's LoRAs were distilled for

FAST = Recipe("fast", (Stage("denoise", steps=FAST_STEPS, guided=False, distilled=True),),
              note="recipe fast runs a step-distilled LoRA without guidance, so cfg_scale and negative_prompt have "
                   "no effect on the picture (they still guide the sound); SHOTLINE_QUALITY=standard applies them")
STANDARD = Recipe("standard", (Stage("denoise"),), note="cfg_scale and negative_prompt guide every step")
DRAFT = Recipe("draft", STANDARD.stages, note=STANDARD.note)
RECIPES = {"fast": FAST, "standard": STANDARD, "max": STANDARD, "draft": DRAFT}

PRESETS = {
    "480p": {"16:9": (832, 480), "9:16": (480, 832), "1:1": (624, 624)},
    "720p": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (960, 960)},
    # Wan 2.2 TI2V-5B's native size and rate.
    "ti2v-720p": {"16:9": (1280, 704), "9:16": (704, 1280), "1:1": (960, 960)},
    "test": TEST_SIZES,
}

WAN = EngineSpec(
    name="wan",
    fps=16,
    resolutions=PRESETS["480p"],
    frame_multiple=4,
    max_generation_frames=4 * 60 + 1,
    native_audio=False,
    guidance_range=(2.0, 8.0),
    audio_guidance_range=(3.0, 11.0),
    default_steps=50,
    draft_steps=25,
    size_multiple=16,
    presets=PRESETS,
    recipes=RECIPES,
    preset_fps={"ti2v-720p": 24},
)


def auto_recipe(settings: Settings) -> str:
    return "fast" if settings.distill_lora else "standard"


def default_preset(settings: Settings) -> str | None:
    """`ti2v-720p` when the weights are Wan 2.2 TI2V-5B (its VAE has 48 latent channels), read where this
    process can see them."""
    from shotline.engines.weights import local_folder, read_json

    folder = local_folder(settings.model, settings.model_revision)
    if folder is not None and read_json(folder / "vae" / "config.json").get("z_dim") == 48:
        return "ti2v-720p"
    return None
