"""`bench/gpu.py` at tiny size on the CPU, so the GPU run's code path (models built from the shipped configs,
every recipe through the engine, stage timing, LoRA costs) does not rot between GPU runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_bench_runs_every_recipe_at_tiny_size_and_every_config_builds() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.gpu", "--size", "tiny", "--steps", "2", "--seconds", "3",
         "--models", "ltx2-2.0,wan-2.1-t2v-14b", "--recipes", "fast,standard"],
        cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    configs = {(f["model"], f["part"]): f["params_b"] for f in lines if f["name"] == "gpu_config"}
    assert 18 < configs[("ltx2-2.3", "transformer")] < 20 and 14 < configs[("wan-2.1-t2v-14b", "transformer")] < 15
    assert ("wan-2.2-ti2v-5b", "vae") in configs and ("ltx2-2.0", "latent_upsampler") in configs
    runs = {(f["model"], f["recipe"]): f for f in lines if f["name"] == "gpu_recipe"}
    assert set(runs) == {("ltx2-2.0", "fast"), ("ltx2-2.0", "standard"), ("wan-2.1-t2v-14b", "fast"),
                         ("wan-2.1-t2v-14b", "standard")}
    fast = runs[("ltx2-2.0", "fast")]
    assert (fast["first_stage_steps"], fast["second_stage_steps"]) == (8, 3) and fast["sound"] is True
    assert fast["first_stage_size"] == "128x64" and fast["second_stage_size"] == "256x128"
    assert fast["total_s"] >= fast["first_stage_s"] + fast["upsample_s"] + fast["second_stage_s"] > 0
    assert runs[("wan-2.1-t2v-14b", "fast")]["denoise_steps"] == 4
    (lora,) = [f for f in lines if f["name"] == "gpu_lora"]
    assert lora["model"] == "ltx2-2.0" and lora["load_s"] > 0 and lora["fuse_s"] > 0
