"""A no-op engine for measuring the server around generation: it returns one gray frame repeated and
silence, at once. Select it as `SHOTLINE_ENGINE=bench.noop_engine:NoopEngine` (run from the repo root)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shotline.engines.base import Engine, EngineSpec, GenerationPlan, ShotOutput, ShotPlan, StepCallback


class _Repeat(Sequence[np.ndarray]):
    def __init__(self, frame: np.ndarray, n: int) -> None:
        self.frame, self.n = frame, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return _Repeat(self.frame, len(range(*i.indices(self.n))))
        if not -self.n <= i < self.n:
            raise IndexError(i)  # iteration over a Sequence ends here
        return self.frame


class NoopEngine(Engine):
    spec = EngineSpec(
        name="noop", fps=24, resolutions={"16:9": (64, 32), "9:16": (32, 64), "1:1": (32, 32)}, frame_multiple=1,
        max_generation_frames=10_000, native_audio=True, guidance_range=(1.0, 1.0), audio_guidance_range=(1.0, 1.0),
        default_steps=1, notice="made by the no-op benchmark engine: one gray frame and silence",
    )

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def load(self) -> None:
        pass

    def generate_shot(self, plan: GenerationPlan, shot: ShotPlan, on_step: StepCallback) -> ShotOutput:
        on_step(1)
        frame = np.full((plan.height, plan.width, 3), 128, np.uint8)
        audio = np.zeros((2, int(shot.generation_frames / plan.fps * 16000)), np.float32) if plan.sound else None
        return ShotOutput(frames=_Repeat(frame, shot.frames), audio=audio, sample_rate=16000)

    def describe(self) -> dict[str, str]:
        return {"engine": "noop", "notice": self.spec.notice}
