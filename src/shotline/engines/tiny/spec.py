"""The tiny engine's capabilities: LTX-2's rules at CPU sizes (plain data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shotline.engines.base import TEST_SIZES, EngineSpec
from shotline.engines.ltx2.spec import LTX2_AUDIO_GUIDANCE, LTX2_GUIDANCE, RECIPES

if TYPE_CHECKING:
    from shotline.config import Settings

TINY_NOTICE = (
    "made by the tiny engine: random weights built in code, so picture and sound are noise "
    "(for tests and first runs; set SHOTLINE_ENGINE=ltx2 with real weights for real video)"
)

# The tiny engine runs the real LTX-2 pipeline classes with small random weights, so it obeys the same rules
# as LTX-2 (sizes in multiples of 32, 8k+1 frames, 24 fps, joint audio) and has the same recipes, at sizes a
# CPU makes in about a second.
TINY = EngineSpec(
    name="tiny",
    fps=24,
    resolutions=TEST_SIZES,
    frame_multiple=8,
    max_generation_frames=8 * 64 + 1,
    native_audio=True,
    guidance_range=LTX2_GUIDANCE,
    audio_guidance_range=LTX2_AUDIO_GUIDANCE,
    default_steps=8,
    notice=TINY_NOTICE,
    draft_steps=4,
    recipes=RECIPES,
)


def auto_recipe(settings: Settings) -> str:
    """One stage: the cheapest on a CPU at these sizes, and what the rest of the test suite expects."""
    return "max"
