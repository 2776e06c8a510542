"""Every pipeline call of one LTX-2 shot, in order, in this one place: stage by stage, with the x2 latent
upsampler between stages (a later multi-GPU plan wraps these calls).

    stage 1  LTX2Pipeline(height/2, width/2, output_type="latent") -> video and audio latents
    upsample LTX2LatentUpsamplePipeline(latents=..., latents_normalized=False, output_type="latent")
    stage 2  LTX2Pipeline(latents=upsampled, audio_latents=..., sigmas=STAGE_2_DISTILLED_SIGMA_VALUES,
                          noise_scale=STAGE_2_DISTILLED_SIGMA_VALUES[0]) -> frames and sound

A single-stage recipe is the first call alone, decoding at once. One generator runs through every stage, so
stage 2 continues the noise stream instead of repeating stage 1's draw (as diffusers' two-stage example
does). Guidance is set knob by knob for each stage: the pipeline silently falls back to the picture's value
for any audio knob passed as 0 or None, so an unguided stage sets every one explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from shotline.engines.base import GenerationPlan, ShotPlan, StagePlan, StepCallback

if TYPE_CHECKING:
    from shotline.engines.ltx2.engine import LTX2Engine

# One transformer pass per step: no classifier-free, spatio-temporal or modality guidance, no rescale.
UNGUIDED: dict[str, Any] = {
    "guidance_scale": 1.0, "audio_guidance_scale": 1.0, "stg_scale": 0.0, "audio_stg_scale": 0.0,
    "modality_scale": 1.0, "audio_modality_scale": 1.0, "guidance_rescale": 0.0, "audio_guidance_rescale": 0.0,
    "spatio_temporal_guidance_blocks": None,
}


def sigmas(stage_index: int, stage: StagePlan) -> dict[str, Any]:
    """A distilled stage runs its trained sigma schedule as given; a full-model stage the scheduler's own."""
    if not stage.distilled:
        return {"num_inference_steps": stage.steps}
    from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES

    if stage_index == 0:
        return {"sigmas": DISTILLED_SIGMA_VALUES}
    # A refining stage re-noises the upsampled latents to its entry sigma, then denoises from there.
    return {"sigmas": STAGE_2_DISTILLED_SIGMA_VALUES, "noise_scale": STAGE_2_DISTILLED_SIGMA_VALUES[0]}


def stage_label(stage: StagePlan) -> str:
    return f"{stage.name} ({stage.width}x{stage.height})"


def run_stages(engine: LTX2Engine, plan: GenerationPlan, shot: ShotPlan, on_step: StepCallback) -> Any:
    """The shot through every stage of `plan`; returns the last call's output (frames [F, 3, H, W] in 0..1 and
    the sound)."""
    pipe = engine.pipeline
    with engine.memory_errors(plan, shot, stage="text encoder", steps=None):
        embeds = engine.encode(shot.prompt, plan.negative_prompt, guided=any(s.guided for s in plan.stages))
    generator = torch.Generator(device="cpu").manual_seed(shot.seed)
    latents: dict[str, torch.Tensor] = {}
    done = 0
    out: Any = None
    for index, stage in enumerate(plan.stages):
        last = index == len(plan.stages) - 1
        if latents:
            with engine.memory_errors(plan, shot, stage="latent upsampler", steps=None), torch.inference_mode():
                latents["latents"] = engine.upsampler(latents=latents["latents"], latents_normalized=False,
                                                      output_type="latent", return_dict=False)[0]
            on_step(done)  # a cancel asked for during the upsampler stops here
        # One stage needs no name in an out-of-memory reason; two do.
        label = stage_label(stage) if len(plan.stages) > 1 else ""
        with engine.models_for(stage), engine.memory_errors(plan, shot, label, stage.steps), torch.inference_mode():
            out = pipe(
                **embeds,
                **latents,
                **sigmas(index, stage),
                **engine.guidance_options(plan, stage),
                height=stage.height,
                width=stage.width,
                num_frames=shot.generation_frames,  # always given: LTX-2.5 would otherwise predict a length
                frame_rate=float(plan.fps),
                generator=generator,
                output_type="pt" if last else "latent",
                callback_on_step_end=engine.step_callback(on_step, done),
                max_sequence_length=engine.max_sequence_length,
            )
        done += stage.steps
        if not last:
            latents = {"latents": out.frames, "audio_latents": out.audio}
            del out
    return out
