"""The `tiny` engine: diffusers' real `LTX2Pipeline`, latent upsampler and a distilled LoRA with small random
weights built in code: no download, float32 on a CPU, about a second per clip. The output is noise; it exists
so that the whole server path (planning, recipes, frame rules, joint audio, progress, cancel, encoding) runs
for real in tests and on a first install. Every result it makes says so (task `extra.notice`, mp4 `comment`).
"""

from __future__ import annotations

from typing import Any

from shotline.engines.base import GenerationPlan, StagePlan
from shotline.engines.ltx2.engine import LTX2Engine
from shotline.engines.ltx2.tiny import build_tiny_ltx2_pipeline, build_tiny_upsampler, tiny_lora_layers
from shotline.engines.pipelines import LORA_ADAPTER


class TinyEngine(LTX2Engine):
    engine_name = "tiny"
    max_sequence_length = 64

    def load(self) -> None:
        pipe = build_tiny_ltx2_pipeline()  # always on the CPU, where it is repeatable
        stages = self.spec.recipe.stages
        if any(s.distilled for s in stages):
            layers = tiny_lora_layers(pipe.transformer)
            pipe.load_lora_weights({f"transformer.{k}": v for k, v in layers.items()}, adapter_name=LORA_ADAPTER)
            self.lora = True
        if max(s.scale for s in stages) > 1:
            self.attach_upsampler(pipe, build_tiny_upsampler())
        self.adopt(pipe)

    def guidance_options(self, plan: GenerationPlan, stage: StagePlan) -> dict[str, Any]:
        # Classifier-free guidance only: the cheapest guided call (one batched pass per step), for CPU tests.
        options = super().guidance_options(plan, stage)
        if stage.guided:
            options |= {"stg_scale": 0.0, "audio_stg_scale": 0.0, "spatio_temporal_guidance_blocks": None,
                        "modality_scale": 1.0, "audio_modality_scale": 1.0, "guidance_rescale": 0.0,
                        "audio_guidance_rescale": 0.0}
        return options

    def describe(self) -> dict[str, str]:
        return {"engine": "tiny", "notice": self.spec.notice}
