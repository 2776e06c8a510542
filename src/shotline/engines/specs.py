"""Each engine's capabilities, as plain data (the API reads these without importing torch).

`docs/engines/*.md` print these tables for users; `tests/engines/test_specs.py` checks that every size
obeys its model's rules, so change both together.
"""

from __future__ import annotations

from shotline.engines.base import EngineSpec

TINY_NOTICE = (
    "made by the tiny engine: random weights built in code, so picture and sound are noise "
    "(for tests and first runs; set SHOTLINE_ENGINE=ltx2 with real weights for real video)"
)

# Small sizes of each model's shape, for `shotline models tiny` weights on a CPU (smoke tests, CI).
TEST_SIZES = {"16:9": (224, 128), "9:16": (128, 224), "1:1": (128, 128)}

# cfg_scale → guidance, linear. LTX-2's own defaults (3.0 picture, 7.0 sound) sit at cfg_scale 0.5, the
# contract's default; both stay above 1 so the negative prompt always applies. See engines/ltx2.py.
LTX2_GUIDANCE = (1.5, 4.5)
LTX2_AUDIO_GUIDANCE = (3.0, 11.0)

# The tiny engine runs the real LTX-2 pipeline class with small random weights, so it obeys the same
# rules as LTX-2 (sizes in multiples of 32, 8k+1 frames, 24 fps, joint audio), at sizes a CPU makes in
# about a second.
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
)

# LTX-2 (19B, joint audio + video). Sizes: multiples of 32 (VAE 32×); frames 8k+1 (VAE 8× in time).
# "720p" is LTX-2's 1280×704 class at about 0.9 megapixels for every aspect ratio; "540p" about half that,
# for 24 GB cards. The model card allows up to 20 s per clip.
LTX2 = EngineSpec(
    name="ltx2",
    fps=24,
    resolutions={"16:9": (1280, 704), "9:16": (704, 1280), "1:1": (960, 960)},
    frame_multiple=8,
    max_generation_frames=8 * 60 + 1,
    native_audio=True,
    guidance_range=LTX2_GUIDANCE,
    audio_guidance_range=LTX2_AUDIO_GUIDANCE,
    default_steps=40,
    draft_steps=20,
    size_multiple=32,
    presets={
        "720p": {"16:9": (1280, 704), "9:16": (704, 1280), "1:1": (960, 960)},
        "540p": {"16:9": (960, 544), "9:16": (544, 960), "1:1": (704, 704)},
        "test": TEST_SIZES,
    },
)

# Wan 2.1 / 2.2 text-to-video. Sizes: multiples of 16 (VAE 8× and patch 2); frames 4k+1; 16 fps, the rate
# Wan 2.1 and 2.2-A14B were trained at. 480p fits every Wan T2V checkpoint (1.3B included); 720p is for the
# 14B models. Guidance: cfg_scale 0.5 → 5.0, Wan's own default; sound comes from a text-to-audio model whose
# guidance maps like LTX-2's (0.5 → 7.0, StableAudio's default). 15 s per shot: longer than the 81 frames
# Wan was trained on, which it makes at a cost in motion coherence (use shots for long videos).
WAN = EngineSpec(
    name="wan",
    fps=16,
    resolutions={"16:9": (832, 480), "9:16": (480, 832), "1:1": (624, 624)},
    frame_multiple=4,
    max_generation_frames=4 * 60 + 1,
    native_audio=False,
    guidance_range=(2.0, 8.0),
    audio_guidance_range=(3.0, 11.0),
    default_steps=50,
    draft_steps=25,
    size_multiple=16,
    presets={
        "480p": {"16:9": (832, 480), "9:16": (480, 832), "1:1": (624, 624)},
        "720p": {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (960, 960)},
        "test": TEST_SIZES,
    },
)

SPECS: dict[str, EngineSpec] = {"tiny": TINY, "ltx2": LTX2, "wan": WAN}
