"""Each engine's capabilities, as plain data (the API reads these without importing torch)."""

from __future__ import annotations

from shotline.engines.base import EngineSpec

TINY_NOTICE = (
    "made by the tiny engine: random weights built in code, so picture and sound are noise "
    "(for tests and first runs; set SHOTLINE_ENGINE=ltx2 with real weights for real video)"
)

# The tiny engine runs the real LTX-2 pipeline class with small random weights, so it obeys the same
# rules as LTX-2 (sizes in multiples of 32, 8k+1 frames, 24 fps, joint audio), at sizes a CPU makes in
# about a second.
TINY = EngineSpec(
    name="tiny",
    fps=24,
    resolutions={"16:9": (224, 128), "9:16": (128, 224), "1:1": (128, 128)},
    frame_multiple=8,
    max_generation_frames=8 * 64 + 1,
    native_audio=True,
    # Same mapping as LTX-2 so the tiny engine exercises the same guidance path (see ltx2 below).
    guidance_range=(1.5, 4.5),
    audio_guidance_range=(3.0, 11.0),
    default_steps=8,
    notice=TINY_NOTICE,
)

SPECS: dict[str, EngineSpec] = {"tiny": TINY}
