"""What Shotline's engine costs on top of diffusers: the same tiny LTX-2 pipeline (random weights saved to disk
and loaded back) called directly, and through the ltx2 engine's `generate_shot` (prompt encoding, step
callback, checks), at the same steps, frames and resolution. Median of N runs each, interleaved so that load on
the machine falls on both alike. Target: ratio ≤ 1.05.

    python bench/engine_overhead.py        # one JSON line
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import quick

os.environ.setdefault("HF_HUB_OFFLINE", "1")

STEPS, N, SECONDS = 4, 7, 3


def run(n: int | None = None) -> list[dict]:
    n = n or (2 if quick() else N)
    import torch
    from diffusers import LTX2Pipeline

    from shotline.config import Settings
    from shotline.engines.base import plan_generation
    from shotline.engines.ltx2 import LTX2Engine
    from shotline.engines.tiny import save_tiny
    from shotline.protocol.kling import CreateTaskRequest

    with tempfile.TemporaryDirectory() as tmp:
        weights = save_tiny("ltx2", Path(tmp) / "ltx2")
        # One stage, so the direct call below is the same work (the two-stage recipes add the upsampler).
        engine = LTX2Engine(Settings(_env_file=None, engine="ltx2", model=str(weights), preset="test", quality="max"))
        engine.load()
        direct = LTX2Pipeline.from_pretrained(weights, local_files_only=True, dtype=torch.float32)
        direct.set_progress_bar_config(disable=True)

    request = CreateTaskRequest(prompt="a red fox runs through snow", duration=SECONDS, sound=True,
                                negative_prompt="blur").normalized()
    plan = plan_generation(request, engine.spec, seed=1, steps=STEPS)
    shot = plan.shots[0]

    def through_engine() -> None:
        engine.generate_shot(plan, shot, lambda _done: None)

    def with_diffusers() -> None:
        with torch.inference_mode():
            direct(prompt=shot.prompt, negative_prompt=plan.negative_prompt, height=plan.height, width=plan.width,
                   num_frames=shot.generation_frames, frame_rate=float(plan.fps), num_inference_steps=plan.steps,
                   generator=torch.Generator().manual_seed(shot.seed), output_type="pt",
                   max_sequence_length=engine.max_sequence_length,
                   **engine.guidance_options(plan, plan.stages[0]))

    times: dict[str, list[float]] = {"engine": [], "diffusers": []}
    with_diffusers(), through_engine()  # warm-up: first calls pay one-time allocations
    for _ in range(n):
        for name, fn in (("diffusers", with_diffusers), ("engine", through_engine)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    value, baseline = statistics.median(times["engine"]), statistics.median(times["diffusers"])
    return [{
        "name": "engine_overhead", "value": round(value, 4), "unit": "s", "baseline": round(baseline, 4),
        "ratio": round(value / baseline, 4), "target": 1.05, "n": n, "steps": STEPS,
        "frames": shot.generation_frames, "size": f"{plan.width}x{plan.height}", "sound": True,
        "threads": torch.get_num_threads(),
    }]


if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
