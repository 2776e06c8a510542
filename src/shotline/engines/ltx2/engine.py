"""The LTX-2.x engine: loads what its recipe needs from the weights folder and runs shots through
`recipe.run_stages`.

What is loaded, once, per recipe (`versions.LTX2Weights` tells what the folder holds):

    fast      the distilled transformer; or the full one with the distilled LoRA on in both stages
    standard  the full transformer, and for stage 2 the distilled LoRA (an adapter switched on for that stage
              only: nothing is fused or copied per request) or, without a LoRA, the distilled transformer
              kept resident beside the full one
    max       the full transformer

plus the x2 latent upsampler for two stages. The version (2.0 / 2.3 / 2.5) sets the guided stages'
spatio-temporal guidance block and scales (`versions.GUIDANCE`). cfg_scale maps onto both classifier-free
guidance scales, each passed explicitly:

    video guidance = 1.5 + 3 * cfg_scale    (cfg 0.5 -> 3.0, LTX-2's recommended value)
    audio guidance = 3.0 + 8 * cfg_scale    (cfg 0.5 -> 7.0)

The pipeline always makes the sound; with `sound=false` it is dropped and no audio stream is written.
Prompts are encoded before the pipeline runs, so that with `offload=text-encoder` the text encoder (Gemma,
about 24 GB in bf16) is on the GPU only while it encodes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import torch

from shotline.engines.base import (
    GenerationPlan,
    ModelLoadError,
    ShotOutput,
    ShotPlan,
    StagePlan,
    StepCallback,
)
from shotline.engines.ltx2.recipe import UNGUIDED, run_stages
from shotline.engines.ltx2.versions import GUIDANCE, NAMES, Guidance, LTX2Weights, inspect_weights
from shotline.engines.pipelines import (
    LORA_ADAPTER,
    PipelineEngine,
    check_files,
    check_finite,
    exact_frames,
    load_component,
    load_lora,
    load_pipeline,
    locate,
    resolve_device,
    resolve_dtype,
    switch_lora,
)
from shotline.errors import GenerationError

log = logging.getLogger(__name__)

class LTX2Engine(PipelineEngine):
    engine_name = "ltx2"
    max_sequence_length = 1024

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.version = "2.0"
        self.guidance: Guidance = GUIDANCE["2.0"]
        self.upsampler: Any = None  # LTX2LatentUpsamplePipeline sharing the pipeline's VAE
        self.main_distilled = False  # the pipeline's transformer is itself distilled
        self.distilled_transformer: Any = None  # stage 2's transformer when there is no LoRA (standard)
        self.lora = False  # the distilled LoRA is loaded as an adapter
        self.schedulers: dict[bool, Any] = {}  # distilled? -> scheduler

    # ------------------------------------------------------------------------------------------ loading

    def load(self) -> None:
        from diffusers import LTX2Pipeline, LTX2VideoTransformer3DModel

        if self.settings.step_cache != "none":
            raise ModelLoadError("SHOTLINE_STEP_CACHE is available for engine wan only (its hooks do not "
                                 "support LTX-2's joint audio-video blocks); unset it")
        path = locate(self.settings.model, self.settings.model_revision, "SHOTLINE_MODEL", self.engine_name)
        check_files(path, LTX2Pipeline.__name__)
        weights = inspect_weights(path, self.settings.distill_lora, self.settings.latent_upsampler)
        recipe = self.spec.recipe.name
        if recipe not in weights.recipes():
            raise ModelLoadError(
                f"SHOTLINE_QUALITY={recipe} cannot run on {path}: it holds {weights.describe()}, which run "
                f"{', '.join(weights.recipes()) or 'no recipe'} (docs/engines/ltx2.md says what each needs)")
        self.device = resolve_device(self.settings.device)
        self.dtype = resolve_dtype(self.settings.dtype, self.device)
        self.main_distilled = recipe == "fast" and weights.distilled is not None
        main = weights.distilled if self.main_distilled else weights.full
        components = {}
        if main != "transformer":
            components["transformer"] = load_component(LTX2VideoTransformer3DModel, path, settings=self.settings,
                                                       dtype=self.dtype, subfolder=main or "", quantize=True)
        pipe = load_pipeline(LTX2Pipeline, path, settings=self.settings, setting="SHOTLINE_MODEL",
                             engine=self.engine_name, dtype=self.dtype, quantize=("transformer",), **components)
        self.adopt_weights(pipe, weights, recipe)
        log.info("ltx2: %s, recipe %s", weights.describe(), recipe)

    def adopt_weights(self, pipe: Any, weights: LTX2Weights, recipe: str) -> None:
        """Add what `recipe` needs beyond the pipeline (upsampler, LoRA, second transformer) and keep it all."""
        from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

        stages = self.spec.recipes[recipe].stages
        if any(s.distilled for s in stages) and not self.main_distilled:
            if weights.lora is not None:
                load_lora(pipe, weights.lora, LORA_ADAPTER)
                self.lora = True
            else:
                from diffusers import LTX2VideoTransformer3DModel

                if self.settings.offload in ("model", "group"):
                    raise ModelLoadError(f"SHOTLINE_OFFLOAD={self.settings.offload} cannot keep the distilled "
                                         "transformer beside the full one; use the distilled LoRA "
                                         "(SHOTLINE_DISTILL_LORA) or SHOTLINE_QUALITY=fast")
                self.distilled_transformer = load_component(
                    LTX2VideoTransformer3DModel, weights.root, settings=self.settings, dtype=self.dtype,
                    subfolder=weights.distilled or "transformer", quantize=True).to(self.device)
        if max(s.scale for s in stages) > 1:
            assert weights.upsampler is not None
            model = load_component(LTX2LatentUpsamplerModel, weights.upsampler, settings=self.settings, dtype=self.dtype)
            self.attach_upsampler(pipe, model)
        self.version = weights.version
        self.adopt(pipe)

    def attach_upsampler(self, pipe: Any, model: Any) -> None:
        from diffusers import LTX2LatentUpsamplePipeline

        self.upsampler = LTX2LatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=model.to(self.device))
        self.upsampler.set_progress_bar_config(disable=True)

    def adopt(self, pipe: Any) -> None:
        from diffusers import FlowMatchEulerDiscreteScheduler

        config = pipe.scheduler.config
        # Distilled stages run their sigmas as given; full-model stages shift them by the sequence length
        # (LTX-2.5 ships the distilled configuration, LTX-2 and 2.3 the other: each gets both).
        self.schedulers = {
            True: FlowMatchEulerDiscreteScheduler.from_config(config, use_dynamic_shifting=False, shift_terminal=None),
            False: FlowMatchEulerDiscreteScheduler.from_config(
                config, use_dynamic_shifting=True, shift_terminal=config.get("shift_terminal") or 0.1),
        }
        self.guidance = GUIDANCE[self.version]
        if self.lora:
            switch_lora(pipe, False)
        super().adopt(pipe)

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "model_version": NAMES[self.version]}

    # ------------------------------------------------------------------------------------------ running

    @contextlib.contextmanager
    def models_for(self, stage: StagePlan) -> Iterator[None]:
        """Point the pipeline at what `stage` runs on: the distilled model (checkpoint, second transformer or
        LoRA) with its scheduler, or the full one."""
        pipe = self.pipeline
        main = pipe.transformer
        if stage.distilled and not (self.main_distilled or self.distilled_transformer is not None or self.lora):
            raise GenerationError(self._mismatch(stage))
        if not stage.distilled and self.main_distilled:
            raise GenerationError(self._mismatch(stage))
        pipe.scheduler = self.schedulers[stage.distilled]
        use_lora = stage.distilled and self.lora
        if stage.distilled and self.distilled_transformer is not None:
            pipe.transformer = self.distilled_transformer
        if use_lora:
            switch_lora(pipe, True)
        try:
            yield
        finally:
            if use_lora:
                switch_lora(pipe, False)
            pipe.transformer = main

    def _mismatch(self, stage: StagePlan) -> str:
        return (f"this worker loaded ltx2 for recipe {self.spec.recipe.name}, which has no "
                f"{'distilled' if stage.distilled else 'full'} model for the task's {stage.name}: set the same "
                "SHOTLINE_QUALITY on the API servers and the workers")

    def guidance_options(self, plan: GenerationPlan, stage: StagePlan) -> dict[str, Any]:
        """The pipeline's guidance knobs for `stage`: the version's recommended multimodal guidance where the
        stage is guided (cfg_scale sets the classifier-free part), every knob off otherwise."""
        if not stage.guided:
            return dict(UNGUIDED)
        g = self.guidance
        # A model with fewer blocks than the version's STG block (tiny weights) perturbs its last one, so the
        # guided run keeps the real model's pass structure.
        block = min(g.stg_block, self.pipeline.transformer.config.num_layers - 1)
        return {
            "guidance_scale": plan.guidance_scale, "audio_guidance_scale": plan.audio_guidance_scale,
            "stg_scale": g.stg_scale, "audio_stg_scale": g.stg_scale,
            "modality_scale": g.modality_scale, "audio_modality_scale": g.modality_scale,
            "guidance_rescale": g.rescale, "audio_guidance_rescale": g.rescale,
            "spatio_temporal_guidance_blocks": [block],
        }

    def encode(self, prompt: str, negative_prompt: str, guided: bool = True) -> dict[str, torch.Tensor]:
        with self.text_encoder.visit(), torch.inference_mode():
            embeds, mask, negative, negative_mask = self.pipeline.encode_prompt(
                prompt=prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=guided,
                max_sequence_length=self.max_sequence_length, device=self.device,
            )
        out = {"prompt_embeds": embeds, "prompt_attention_mask": mask}
        if guided:
            out |= {"negative_prompt_embeds": negative, "negative_prompt_attention_mask": negative_mask}
        return out

    def generate_shot(self, plan: GenerationPlan, shot: ShotPlan, on_step: StepCallback) -> ShotOutput:
        if self.pipeline is None:
            raise RuntimeError("engine not loaded")
        if len(plan.stages) > 1 and self.upsampler is None:
            raise GenerationError(f"this worker loaded ltx2 for recipe {self.spec.recipe.name}, without the latent "
                                  f"upsampler the task's recipe {plan.recipe} needs: set the same SHOTLINE_QUALITY "
                                  "on the API servers and the workers")
        t0 = time.monotonic()
        out = run_stages(self, plan, shot, on_step)
        output = ShotOutput(frames=exact_frames(out.frames[0], shot))
        if plan.sound:
            audio = out.audio[0].float().cpu().numpy()
            check_finite(audio, "sound")
            output.audio = audio
            output.sample_rate = int(self.pipeline.vocoder.config.output_sampling_rate)
        log.info("shot %d: %d frames at %dx%d (recipe %s) in %.2f s", shot.index + 1, shot.generation_frames,
                 plan.width, plan.height, plan.recipe, time.monotonic() - t0)
        return output
