"""Sound for engines without joint audio: a text-to-audio model, one clip per shot.

diffusers' `StableAudioPipeline` (stable-audio-open-1.0: 44.1 kHz stereo, up to about 47 s per call, so a
15 s shot fits one call). Each shot's clip starts at the shot's first frame and runs as long as the clip the
video model made (a few frames past the cut); the runner's AudioJoiner crossfades that overhang into the
next shot, so the track runs on continuously across cuts. Its guidance follows cfg_scale like LTX-2's sound
(0.5 → 7.0, the pipeline's default), and the negative prompt reaches it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from shotline.engines.base import StepCallback
from shotline.engines.pipelines import check_finite, load_pipeline, place
from shotline.errors import GenerationError

if TYPE_CHECKING:
    from shotline.config import Settings

STEPS = 100  # stable-audio-open's default; 50 for the fast and draft recipes


class TextToAudio:
    def __init__(self, settings: Settings, device: torch.device, dtype: torch.dtype) -> None:
        self.settings, self.device, self.dtype = settings, device, dtype
        self.steps = settings.audio_steps or (STEPS // 2 if settings.quality in ("fast", "draft") else STEPS)
        self.pipeline: Any = None

    def load(self) -> None:
        from diffusers import StableAudioPipeline

        pipe = load_pipeline(StableAudioPipeline, self.settings.audio_model, settings=self.settings,
                             setting="SHOTLINE_AUDIO_MODEL", engine="wan", dtype=self.dtype)
        place(pipe, self.settings, self.device)
        self.pipeline = pipe

    @property
    def sample_rate(self) -> int:
        return int(self.pipeline.vae.config.sampling_rate)

    @property
    def max_seconds(self) -> float:
        return self.pipeline.transformer.config.sample_size * self.pipeline.vae.hop_length / self.sample_rate

    def generate(self, prompt: str, negative_prompt: str, seconds: float, guidance: float, seed: int,
                 on_step: StepCallback) -> np.ndarray:
        """float32 [2, samples]: `seconds` of sound for `prompt`, from its start."""
        if seconds > self.max_seconds:
            raise GenerationError(f"the text-to-audio model makes at most {self.max_seconds:g} s per call and this "
                                  f"shot needs {seconds:g} s; use shorter shots")

        def step(done: int, _t: Any, _latents: Any) -> None:
            on_step(done + 1)

        generator = torch.Generator(device="cpu").manual_seed(seed)
        with torch.inference_mode():
            out = self.pipeline(
                prompt=prompt,
                negative_prompt=negative_prompt or None,
                audio_end_in_s=seconds,
                num_inference_steps=self.steps,
                guidance_scale=guidance,
                generator=generator,
                callback=step,
                callback_steps=1,
                output_type="pt",
            )
        audio = out.audios[0].float().cpu().numpy()
        check_finite(audio, "sound")
        return audio
