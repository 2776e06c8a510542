"""Wan 2.1 / 2.2 text-to-video through diffusers' `WanPipeline`, with sound from a text-to-audio model.

Recipes are in `spec.py`. `fast` loads the step-distilled LoRA once, as an adapter (into the low-noise
expert too for Wan 2.2 A14B: diffusers' `load_into_transformer_2`), and runs 4 steps without guidance on a
flow-matching Euler scheduler at the timesteps the LoRA was distilled at (1000, 750, 500, 250, shifted by 5).

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from shotline.engines.audio import TextToAudio
from shotline.engines.base import (
    GenerationPlan,
    ModelLoadError,
    ShotOutput,
    ShotPlan,
    StagePlan,
    StepCallback,
)
from shotline.engines.pipelines import (
    LORA_ADAPTER,
    PipelineEngine,
    exact_frames,
    load_lora,
    model_label,
    switch_lora,
)
from shotline.errors import GenerationError

if TYPE_CHECKING:
    from shotline.config import Settings

log = logging.getLogger(__name__)

FAST_SHIFT = 5.0  # the flow shift LightX2V's and Wan2.2-Lightning's 4-step LoRAs were distilled with


def distilled_scheduler(config: Any) -> Any:
    """A flow-matching Euler scheduler that always runs evenly spaced sigmas (1, 0.75, 0.5, 0.25 for 4 steps),
    shifted by 5. Hand-written because WanPipeline passes only a step count, and diffusers' own spacing for a
    count (1 ... 0.001) is not the schedule the step-distilled LoRAs were trained at."""
    import numpy as np
    from diffusers import FlowMatchEulerDiscreteScheduler

    class DistilledSteps(FlowMatchEulerDiscreteScheduler):
        def set_timesteps(self, num_inference_steps: int | None = None, device: Any = None, **_: Any) -> None:
            steps = num_inference_steps or 4
            super().set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1].tolist(), device=device)

    return DistilledSteps(num_train_timesteps=config.get("num_train_timesteps", 1000), shift=FAST_SHIFT)


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
        self.schedulers: dict[bool, Any] = {}  # distilled? -> scheduler
        self.lora = False

    def load(self) -> None:
        from diffusers import WanPipeline

        pipe = self.load_weights(WanPipeline, quantize=("transformer", "transformer_2"), float32=("vae",))
        self.schedulers = {False: pipe.scheduler}
        if any(stage.distilled for stage in self.spec.recipe.stages):
            self.load_distilled(pipe)
        if self.settings.audio_model:
            audio = TextToAudio(self.settings, self.device, self.dtype)
            audio.load()
            self.audio = audio
        if self.settings.step_cache != "none":
            enable_step_cache(pipe, self.settings.step_cache, self.settings.step_cache_threshold)
        self.adopt(pipe)

    def load_distilled(self, pipe: Any) -> None:
        """The step-distilled LoRA(s), as adapters, and the scheduler they were distilled with."""
        settings = self.settings
        if not settings.distill_lora:
            raise ModelLoadError(f"SHOTLINE_QUALITY={self.spec.recipe.name} needs a step-distilled LoRA: set "
                                 "SHOTLINE_DISTILL_LORA to its .safetensors file (docs/engines/wan.md lists them)")
        two_experts = getattr(pipe, "transformer_2", None) is not None
        if two_experts and not settings.distill_lora_2:
            raise ModelLoadError("Wan 2.2 A14B has two experts: set SHOTLINE_DISTILL_LORA to the high-noise LoRA "
                                 "and SHOTLINE_DISTILL_LORA_2 to the low-noise one (docs/engines/wan.md)")
        for setting, value in (("SHOTLINE_DISTILL_LORA", settings.distill_lora),
                               ("SHOTLINE_DISTILL_LORA_2", settings.distill_lora_2 if two_experts else "")):
            if value and not Path(value).expanduser().is_file():
                raise ModelLoadError(f"{setting}={value}: no such file; point it at the LoRA's .safetensors file")
        load_lora(pipe, Path(settings.distill_lora).expanduser(), LORA_ADAPTER)
        if two_experts:
            load_lora(pipe, Path(settings.distill_lora_2).expanduser(), LORA_ADAPTER, load_into_transformer_2=True)
        self.lora = True
        self.schedulers[True] = distilled_scheduler(pipe.scheduler.config)

    def encode(self, prompt: str, negative_prompt: str, guided: bool = True) -> dict[str, torch.Tensor]:
        with self.text_encoder.visit(), torch.inference_mode():
            embeds, negative = self.pipeline.encode_prompt(
                prompt=prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=guided,
                max_sequence_length=self.max_sequence_length, device=self.device,
            )
        return {"prompt_embeds": embeds, "negative_prompt_embeds": negative} if guided else {"prompt_embeds": embeds}

    def stage_options(self, plan: GenerationPlan, stage: StagePlan) -> dict[str, Any]:
        """Steps and guidance of the (only) stage; the scheduler it runs on is set by the caller."""
        two_experts = self.pipeline.config.boundary_ratio is not None  # Wan 2.2 A14B: high- and low-noise experts
        guidance = plan.guidance_scale if stage.guided else 1.0
        return {"num_inference_steps": stage.steps, "guidance_scale": guidance,
                "guidance_scale_2": guidance if two_experts else None}

    def generate_shot(self, plan: GenerationPlan, shot: ShotPlan, on_step: StepCallback) -> ShotOutput:
        if plan.sound and self.audio is None:
            raise GenerationError("sound: this server's wan engine has no text-to-audio model; send sound=false "
                                  "(the operator can set SHOTLINE_AUDIO_MODEL)")
        t0 = time.monotonic()
        stage = plan.stages[0] if plan.stages else StagePlan("denoise", plan.width, plan.height, plan.steps, True, False)
        if stage.distilled and not self.lora:
            raise GenerationError(f"this worker loaded wan for recipe {self.spec.recipe.name}, without the "
                                  f"step-distilled LoRA the task's recipe {plan.recipe} needs: set the same "
                                  "SHOTLINE_QUALITY on the API servers and the workers")
        pipe = self.pipeline
        pipe.scheduler = self.schedulers[stage.distilled]
        if self.lora:
            switch_lora(pipe, stage.distilled)
        out = self.run_pipeline(plan, shot, on_step, guided=stage.guided, **self.stage_options(plan, stage))
        output = ShotOutput(frames=exact_frames(out.frames[0], shot))
        del out
        if plan.sound:
            assert self.audio is not None and plan.audio_guidance_scale is not None
            # Progress has counted the video's steps; the sound's steps only check for cancel and shutdown.
            def audio_step(done: int) -> None:
                self._step = done
                on_step(plan.shot_steps)

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
