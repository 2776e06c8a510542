"""LTX-2 (joint video + audio) through diffusers' `LTX2Pipeline`.

The run code is shared by the real-weights engine and the `tiny` engine, which differ only in how the
pipeline is built. cfg_scale maps linearly onto both guidance scales, each passed explicitly (the
pipeline silently reuses the video value for any audio knob left at 0/None):

    video guidance = 1.5 + 3 * cfg_scale    (cfg 0.5 → 3.0, LTX-2's own default)
    audio guidance = 3.0 + 8 * cfg_scale    (cfg 0.5 → 7.0, LTX-2's own default)

Both stay above 1 so classifier-free guidance, and with it the negative prompt, always applies to
picture and sound.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from shotline.engines.base import Engine, EngineSpec, GenerationPlan, ShotOutput, ShotPlan, StepCallback
from shotline.errors import GenerationError, OutOfMemory

if TYPE_CHECKING:
    from shotline.config import Settings

log = logging.getLogger(__name__)


class TensorFrames(Sequence[np.ndarray]):
    """[frames, 3, H, W] floats in 0..1 seen as uint8 RGB frames, converted one at a time on access so a
    long clip never exists twice in memory."""

    def __init__(self, frames: torch.Tensor) -> None:
        self._frames = frames

    def __len__(self) -> int:
        return int(self._frames.shape[0])

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return TensorFrames(self._frames[i])
        f = self._frames[i]
        return f.permute(1, 2, 0).mul(255).round_().clamp_(0, 255).to(torch.uint8).contiguous().numpy()


class LTX2Engine(Engine):
    # Options the pipeline gets on every call; subclasses override (the tiny model has no block 28 for STG).
    call_options: dict[str, Any] = {}
    max_sequence_length = 1024

    def __init__(self, settings: Settings, spec: EngineSpec) -> None:
        self.settings = settings
        self.spec = spec
        self.pipeline: Any = None
        self.device = "cpu"

    def generate_shot(self, plan: GenerationPlan, shot: ShotPlan, on_step: StepCallback) -> ShotOutput:
        if self.pipeline is None:
            raise RuntimeError("engine not loaded")
        generator = torch.Generator(device="cpu").manual_seed(shot.seed)

        def step_end(_pipe: Any, step: int, _t: Any, _kwargs: dict) -> dict:
            on_step(step + 1)
            return {}

        try:
            with torch.inference_mode():
                out = self.pipeline(
                    prompt=shot.prompt,
                    negative_prompt=plan.negative_prompt,
                    height=plan.height,
                    width=plan.width,
                    num_frames=shot.generation_frames,
                    frame_rate=float(plan.fps),
                    num_inference_steps=plan.steps,
                    guidance_scale=plan.guidance_scale,
                    audio_guidance_scale=plan.audio_guidance_scale,
                    generator=generator,
                    output_type="pt",
                    callback_on_step_end=step_end,
                    max_sequence_length=self.max_sequence_length,
                    **self.call_options,
                )
        except torch.OutOfMemoryError as err:
            raise OutOfMemory(_oom_reason(plan, "GPU")) from err
        except MemoryError as err:
            raise OutOfMemory(_oom_reason(plan, "host")) from err
        frames = out.frames[0]
        if frames.shape[0] < shot.frames:
            raise GenerationError(
                f"the model returned {frames.shape[0]} frames for a shot of {shot.frames}; this is a bug in "
                "the engine, please report it"
            )
        if not torch.isfinite(frames).all():
            raise GenerationError("the model produced invalid numbers (NaN) in the picture; try another seed")
        output = ShotOutput(frames=TensorFrames(frames[: shot.frames]))
        if plan.sound:
            audio = out.audio[0].float().cpu().numpy()
            if not np.isfinite(audio).all():
                raise GenerationError("the model produced invalid numbers (NaN) in the sound; try another seed")
            output.audio = audio
            output.sample_rate = int(self.pipeline.vocoder.config.output_sampling_rate)
        return output

    def release_memory(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _oom_reason(plan: GenerationPlan, where: str) -> str:
    seconds = plan.total_frames / plan.fps
    return (
        f"out of {where} memory at {plan.width}x{plan.height}, {seconds:g} s: try a shorter duration "
        "or fewer shots at once"
    )
