"""What cutting a video into shots costs: 6 shots of 2.5 s against one 15 s shot, both rendered to a finished
mp4 through the same path a worker runs (`runner.render`: the ltx2 engine on tiny weights loaded from disk,
per-shot checkpoints, the joined audio, the final mp4). Median of N renders each, interleaved. Each shot also
makes its frame rule's extra frames and a cut's overhang (`frame_rule_ratio`, 1.08 here), and on tiny weights
diffusers' fixed cost per call (about 0.1 s on this CPU) weighs far more than on a real model, whose steps take
seconds each. 8 steps, the tiny engine's default. Target: ratio ≤ 1.10.

    python bench/multishot.py        # one JSON line
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import quick

os.environ.setdefault("HF_HUB_OFFLINE", "1")

STEPS, N = 8, 5
ONE_SHOT = {"prompt": "a red fox runs through snow, wind howling", "duration": 15, "sound": True}
SIX_SHOTS = {"multi_prompt": [{"prompt": f"a red fox, scene {i}, wind howling"} for i in range(6)], "duration": 15,
             "sound": True}


class NoProgress:
    def for_shot(self, _shot):
        return lambda _done: None

    def shot_encoded(self, _shot) -> None:
        pass

    def check_stop(self) -> None:
        pass


def run(n: int | None = None) -> list[dict]:
    n = n or (1 if quick() else N)
    from shotline.config import Settings
    from shotline.engines.base import plan_generation
    from shotline.engines.ltx2 import LTX2Engine
    from shotline.engines.tiny import save_tiny
    from shotline.protocol.kling import CreateTaskRequest
    from shotline.runner import render
    from shotline.storage import from_settings

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(_env_file=None, engine="ltx2", model=str(save_tiny("ltx2", root / "ltx2")),
                            preset="test", quality="max", data_dir=root / "data")
        engine = LTX2Engine(settings)
        engine.load()
        storage = from_settings(settings)
        plans = {name: plan_generation(CreateTaskRequest.model_validate(body).normalized(), engine.spec, seed=1,
                                       steps=STEPS)
                 for name, body in (("one", ONE_SHOT), ("six", SIX_SHOTS))}

        def render_once(name: str) -> float:
            task_id = str(uuid.uuid4())
            out = root / f"{task_id}.mp4"
            t0 = time.perf_counter()
            render(engine, plans[name], NoProgress(), storage, task_id, settings.work_dir, out, {})
            elapsed = time.perf_counter() - t0
            storage.delete_checkpoints(task_id)  # as the worker does when a task ends
            out.unlink()
            return elapsed

        render_once("six")  # warm-up
        times: dict[str, list[float]] = {"one": [], "six": []}
        for _ in range(n):
            for name in ("one", "six"):
                times[name].append(render_once(name))
    value, baseline = statistics.median(times["six"]), statistics.median(times["one"])
    six, one = plans["six"], plans["one"]
    return [{
        "name": "multishot_6x2.5s_vs_1x15s", "value": round(value, 3), "unit": "s", "baseline": round(baseline, 3),
        "ratio": round(value / baseline, 4), "target": 1.10, "n": n, "steps": STEPS,
        "size": f"{one.width}x{one.height}", "generated_frames": sum(s.generation_frames for s in six.shots),
        "baseline_generated_frames": one.shots[0].generation_frames, "sound": True,
        # The part of the ratio no implementation avoids: each 60-frame shot is made as 65 (8k+1, and one frame
        # past the cut for the audio crossfade), the single shot as 361.
        "frame_rule_ratio": round(sum(s.generation_frames for s in six.shots) / one.shots[0].generation_frames, 4),
    }]


if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
