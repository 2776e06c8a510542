"""LTX-2 (joint video + audio) through diffusers' `LTX2Pipeline`.

The run code is shared by the real-weights engine and the `tiny` engine, which differ only in how the
pipeline is built. cfg_scale maps linearly onto both guidance scales, each passed explicitly (the
pipeline silently reuses the video value for any audio knob left at 0/None):

    video guidance = 1.5 + 3 * cfg_scale    (cfg 0.5 → 3.0, LTX-2's own default)
    audio guidance = 3.0 + 8 * cfg_scale    (cfg 0.5 → 7.0, LTX-2's own default)

Both stay above 1 so classifier-free guidance, and with it the negative prompt, always applies to
picture and sound. The other guidance terms (spatio-temporal guidance on block 28, modality guidance,
rescale) keep the pipeline's defaults, which are LTX-2's recommended settings.

The pipeline always makes the sound; with `sound=false` it is dropped and no audio stream is written.
Prompts are encoded before the pipeline runs, so that with `offload=text-encoder` the text encoder (Gemma 3
12B, about 24 GB in bf16) is on the GPU only while it encodes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from shotline.engines.base import GenerationPlan, ModelLoadError, ShotOutput, ShotPlan, StepCallback
from shotline.engines.pipelines import PipelineEngine, check_finite, exact_frames

log = logging.getLogger(__name__)

STG_BLOCK = 28  # the block LTX2Pipeline perturbs for spatio-temporal guidance by default


class LTX2Engine(PipelineEngine):
    engine_name = "ltx2"
    # Options the pipeline gets on every call; subclasses override (the tiny model has no block 28 for STG).
    call_options: dict[str, Any] = {}
    max_sequence_length = 1024

    def load(self) -> None:
        from diffusers import LTX2Pipeline

        if self.settings.step_cache != "none":
            raise ModelLoadError("SHOTLINE_STEP_CACHE is available for engine wan only (its hooks do not "
                                 "support LTX-2's joint audio-video blocks); unset it")
        self.adopt(self.load_weights(LTX2Pipeline, quantize=("transformer",)))

    def adopt(self, pipe: Any) -> None:
        if pipe.transformer.config.num_layers <= STG_BLOCK and "stg_scale" not in self.call_options:
            # Spatio-temporal guidance perturbs block 28; a model without one would run the extra pass for nothing.
            self.call_options = {**self.call_options, "stg_scale": 0.0, "audio_stg_scale": 0.0,
                                 "spatio_temporal_guidance_blocks": None}
        super().adopt(pipe)

    def encode(self, prompt: str, negative_prompt: str) -> dict[str, torch.Tensor]:
        with self.text_encoder.visit():
            embeds, mask, negative, negative_mask = self.pipeline.encode_prompt(
                prompt=prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=True,
                max_sequence_length=self.max_sequence_length, device=self.device,
            )
        return {"prompt_embeds": embeds, "prompt_attention_mask": mask, "negative_prompt_embeds": negative,
                "negative_prompt_attention_mask": negative_mask}

    def generate_shot(self, plan: GenerationPlan, shot: ShotPlan, on_step: StepCallback) -> ShotOutput:
        t0 = time.monotonic()
        out = self.run_pipeline(plan, shot, on_step, frame_rate=float(plan.fps),
                                audio_guidance_scale=plan.audio_guidance_scale, **self.call_options)
        output = ShotOutput(frames=exact_frames(out.frames[0], shot))
        if plan.sound:
            audio = out.audio[0].float().cpu().numpy()
            check_finite(audio, "sound")
            output.audio = audio
            output.sample_rate = int(self.pipeline.vocoder.config.output_sampling_rate)
        log.info("shot %d: %d frames at %dx%d in %.2f s", shot.index + 1, shot.generation_frames, plan.width,
                 plan.height, time.monotonic() - t0)
        return output
