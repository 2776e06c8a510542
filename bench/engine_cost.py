"""Transformer work per recipe, counted: a 5 s 16:9 request with sound through the real engine at the real
presets' sizes, every transformer call recorded by a forward hook (passes, and the video tokens in each).

Prints, per engine, preset and recipe: transformer passes (a classifier-free-guidance call on a batch of two
counts two), token-passes (sum of video tokens over passes) and attention-weighted cost (sum of tokens
squared over passes, what attention grows with), and each one's ratio to `max` in the same run. Targets in
token-passes: `fast` <= 1/25 of `max`, `standard` <= 1/3.

The engine, its recipe, the diffusers pipelines, schedulers, upsampler and LoRA switching all run for real on
tiny weights; only the tiny transformer's arithmetic is replaced by zeros of the shape it would return (the
pipeline's calls, their number and sizes do not depend on those values), and the run stops at the last step's
callback, before decoding, which makes no transformer call. Real arithmetic at these sizes takes about an
hour on a CPU; the seconds it takes on a GPU are `bench/gpu.py`'s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import emit

SECONDS = 5
RECIPES = {"ltx2": ("max", "standard", "fast"), "wan": ("standard", "fast")}
PRESETS = {"ltx2": ("720p", "1080p"), "wan": ("480p", "720p")}
TARGETS = {"fast": 1 / 25, "standard": 1 / 3}  # token-passes relative to max (ltx2)


class LastStep(Exception):
    """Raised from the last step's callback: every transformer call has been made."""


def counted(transformer: Any, calls: list[tuple[int, int]]) -> None:
    """Record each call's batch and video tokens, and answer with zeros of the output's shape."""
    import torch

    def hook(_module: Any, _args: Any, kwargs: dict, _out: Any) -> None:
        hidden = kwargs["hidden_states"]
        if hidden.ndim == 5:  # Wan: [batch, channels, frames, height, width], patched 1x2x2
            p_t, p_h, p_w = transformer.config.patch_size
            tokens = hidden.shape[2] // p_t * (hidden.shape[3] // p_h) * (hidden.shape[4] // p_w)
        else:  # LTX-2: packed [batch, tokens, channels]
            tokens = hidden.shape[1]
        calls.append((int(hidden.shape[0]), int(tokens)))

    def zeros(hidden_states: Any, audio_hidden_states: Any = None, **_: Any) -> tuple:
        if audio_hidden_states is None:
            return (torch.zeros_like(hidden_states),)
        return torch.zeros_like(hidden_states), torch.zeros_like(audio_hidden_states)

    transformer.forward = zeros
    transformer.register_forward_hook(hook, with_kwargs=True)


def measure(engine_name: str, weights: dict[str, Path], preset: str, quality: str) -> dict:
    from shotline.config import Settings
    from shotline.engines.base import plan_generation
    from shotline.engines.registry import create_engine
    from shotline.protocol.kling import CreateTaskRequest

    extra = {"distill_lora": str(weights["wan-lora"])} if engine_name == "wan" else {}
    settings = Settings(_env_file=None, engine=engine_name, model=str(weights[engine_name]), preset=preset,
                        quality=quality, **extra)
    engine = create_engine(engine_name, settings)
    engine.load()
    calls: list[tuple[int, int]] = []
    pipe = engine.pipeline
    for transformer in {id(t): t for t in (pipe.transformer, getattr(pipe, "transformer_2", None),
                                           getattr(engine, "distilled_transformer", None)) if t}.values():
        counted(transformer, calls)
    sound = engine_name == "ltx2"  # wan's sound is a separate model, not the transformer's work
    request = CreateTaskRequest(prompt="a red fox runs through snow", duration=SECONDS, aspect_ratio="16:9",
                                sound=sound).normalized()
    plan = plan_generation(request, engine.spec, seed=0)

    def on_step(done: int) -> None:
        if done == plan.shot_steps:
            raise LastStep

    try:
        engine.generate_shot(plan, plan.shots[0], on_step)
    except LastStep:
        pass
    passes = sum(batch for batch, _ in calls)
    return {
        "name": "engine_cost", "engine": engine_name, "preset": preset, "recipe": plan.recipe,
        "size": f"{plan.width}x{plan.height}", "frames": plan.shots[0].generation_frames, "sound": sound,
        "stages": [f"{s.name} {s.width}x{s.height} x{s.steps}{' guided' if s.guided else ''}" for s in plan.stages],
        "steps": plan.shot_steps, "transformer_calls": len(calls), "passes": passes,
        "token_passes": sum(batch * tokens for batch, tokens in calls),
        "attention_cost": sum(batch * tokens**2 for batch, tokens in calls),
        "max_tokens": max(tokens for _, tokens in calls),
    }


def run() -> list[dict]:
    from shotline.engines.registry import save_tiny
    from shotline.engines.wan.tiny import LORA_FILE

    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = {kind: save_tiny(kind, Path(tmp) / kind) for kind in ("ltx2", "wan")}
        weights["wan-lora"] = weights["wan"] / LORA_FILE
        for engine_name, recipes in RECIPES.items():
            for preset in PRESETS[engine_name]:
                rows = [measure(engine_name, weights, preset, quality) for quality in recipes]
                base = next(r for r in rows if r["recipe"] == recipes[0])
                for row in rows:
                    for key in ("passes", "token_passes", "attention_cost"):
                        row[f"{key}_vs_{base['recipe']}"] = round(row[key] / base[key], 4)
                    target = TARGETS.get(row["recipe"]) if engine_name == "ltx2" else None
                    if target is not None:
                        row["target_token_passes_vs_max"] = round(target, 4)
                        row["target_met"] = row["token_passes_vs_max"] <= target
                    emit(row)
                    figures.append(row)
    return []  # already printed, one line as each is measured


if __name__ == "__main__":
    run()
