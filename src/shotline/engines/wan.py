"""Wan 2.1 / 2.2 text-to-video through diffusers' `WanPipeline`, with sound from a text-to-audio model.

cfg_scale maps linearly onto the guidance, for the picture and (through `engines/audio.py`) the sound:

    video guidance = 2.0 + 6 * cfg_scale    (cfg 0.5 → 5.0, Wan's own default; both stages of Wan 2.2 A14B)
    audio guidance = 3.0 + 8 * cfg_scale    (cfg 0.5 → 7.0, StableAudio's own default)

Both stay above 1, so the negative prompt always applies. Frames follow Wan's rule (4k+1: the planner asks
for the smallest such count above the shot and the clip is trimmed); sizes are multiples of 16. The VAE runs
in float32, as Wan's authors run it (in bf16 it loses fine detail); the rest in `SHOTLINE_DTYPE`.

Step caching (`SHOTLINE_STEP_CACHE`, off by default) reuses transformer work between steps that change
little, through diffusers' hooks: `first-block` (FirstBlockCache; `SHOTLINE_STEP_CACHE_THRESHOLD`, higher is
faster and rougher) or `pyramid` (PyramidAttentionBroadcast). MagCache needs ratios calibrated per model and
step count, which diffusers ships for Flux only, so it is not offered.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import torch

from shotline.engines.audio import TextToAudio
from shotline.engines.base import GenerationPlan, ShotOutput, ShotPlan, StepCallback
from shotline.engines.pipelines import PipelineEngine, exact_frames, model_label
from shotline.errors import GenerationError

if TYPE_CHECKING:
    from shotline.config import Settings

log = logging.getLogger(__name__)


def enable_step_cache(pipe: Any, kind: str, threshold: float) -> None:
    from diffusers import FirstBlockCacheConfig, PyramidAttentionBroadcastConfig

    for transformer in (pipe.transformer, getattr(pipe, "transformer_2", None)):
        if transformer is None:
            continue
        if kind == "first-block":
            config: Any = FirstBlockCacheConfig(threshold=threshold)
        else:
            config = PyramidAttentionBroadcastConfig(
                spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(100, 800),
                current_timestep_callback=lambda: pipe.current_timestep,
            )
        transformer.enable_cache(config)


class WanEngine(PipelineEngine):
    engine_name = "wan"
    max_sequence_length = 512  # UMT5's length in Wan's training

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.audio: TextToAudio | None = None

    def load(self) -> None:
        from diffusers import WanPipeline

        pipe = self.load_weights(WanPipeline, quantize=("transformer", "transformer_2"), float32=("vae",))
        if self.settings.audio_model:
            audio = TextToAudio(self.settings, self.device, self.dtype)
            audio.load()
            self.audio = audio
        if self.settings.step_cache != "none":
            enable_step_cache(pipe, self.settings.step_cache, self.settings.step_cache_threshold)
        self.adopt(pipe)

    def encode(self, prompt: str, negative_prompt: str) -> dict[str, torch.Tensor]:
        with self.text_encoder.visit():
            embeds, negative = self.pipeline.encode_prompt(
                prompt=prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=True,
                max_sequence_length=self.max_sequence_length, device=self.device,
            )
        return {"prompt_embeds": embeds, "negative_prompt_embeds": negative}

    def generate_shot(self, plan: GenerationPlan, shot: ShotPlan, on_step: StepCallback) -> ShotOutput:
        if plan.sound and self.audio is None:
            raise GenerationError("sound: this server's wan engine has no text-to-audio model; send sound=false "
                                  "(the operator can set SHOTLINE_AUDIO_MODEL)")
        t0 = time.monotonic()
        two_stage = self.pipeline.config.boundary_ratio is not None  # Wan 2.2 A14B: high- and low-noise experts
        out = self.run_pipeline(plan, shot, on_step, guidance_scale_2=plan.guidance_scale if two_stage else None)
        output = ShotOutput(frames=exact_frames(out.frames[0], shot))
        del out
        if plan.sound:
            assert self.audio is not None and plan.audio_guidance_scale is not None
            # Progress has counted the video's steps; the sound's steps only check for cancel and shutdown.
            def audio_step(done: int) -> None:
                self._step = done
                on_step(plan.steps)

            with self.memory_errors(plan, shot, stage="sound", steps=self.audio.steps):
                output.audio = self.audio.generate(shot.prompt, plan.negative_prompt,
                                                   shot.generation_frames / plan.fps, plan.audio_guidance_scale,
                                                   shot.seed, audio_step)
            output.sample_rate = self.audio.sample_rate
        log.info("shot %d: %d frames at %dx%d%s in %.2f s", shot.index + 1, shot.generation_frames, plan.width,
                 plan.height, " with sound" if plan.sound else "", time.monotonic() - t0)
        return output

    def describe(self) -> dict[str, str]:
        labels = super().describe()
        if self.settings.audio_model:
            labels["audio_model"] = model_label(self.settings.audio_model, "")
        return labels
