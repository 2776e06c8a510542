"""The engine interface and the planning that turns a request into frames, sizes and guidance.

Nothing here imports torch: the API uses `plan_generation` and `EngineSpec.check_inputs` at submit
time, so a request the engine cannot serve is refused before it is queued.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shotline.errors import InputRejected, ModelLoadError  # noqa: F401  (engines import ModelLoadError from here)
from shotline.request import GenerationRequest

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Stage:
    """One denoising pass of a recipe. Plain data: the API plans with it."""

    name: str  # how progress, logs and out-of-memory reasons name it
    scale: int = 1  # runs at the plan's width and height divided by this (2: half, then the x2 latent upsampler)
    steps: int = 0  # fixed steps (a distilled model's sigma schedule); 0: the plan's steps
    guided: bool = True  # cfg_scale and negative_prompt act here (classifier-free guidance)
    distilled: bool = False  # runs the distilled model (checkpoint or LoRA)


@dataclass(frozen=True)
class Recipe:
    """How an engine turns a shot into frames: its stages in order (`SHOTLINE_QUALITY` picks one)."""

    name: str
    stages: tuple[Stage, ...]
    # Said in every result this recipe makes (`extra.guidance`): where cfg_scale and negative_prompt act.
    note: str = ""

    @property
    def scale(self) -> int:
        """The largest divisor of its stages: plan sizes must stay model-sized after it."""
        return max(stage.scale for stage in self.stages)


# Small sizes of the models' shapes, for tiny weights on a CPU (the `test` presets; smoke tests, CI). Multiples
# of 64, so LTX-2's two-stage recipes run at them too.
TEST_SIZES = {"16:9": (256, 128), "9:16": (128, 256), "1:1": (128, 128)}

# Today's run: one stage at full size with guidance. Engines without recipes of their own run this.
SINGLE = Recipe("max", (Stage("denoise"),), note="cfg_scale and negative_prompt guide every step")


@dataclass(frozen=True)
class EngineSpec:
    """What an engine can do, declared without loading it."""

    name: str
    fps: int
    resolutions: dict[str, tuple[int, int]]  # aspect ratio → (width, height)
    # The model's frame rule: it generates `frame_multiple * k + 1` frames; we generate the smallest such
    # count above what a shot needs and trim.
    frame_multiple: int
    max_generation_frames: int
    native_audio: bool
    guidance_range: tuple[float, float]  # cfg_scale 0 → first, 1 → second (linear)
    audio_guidance_range: tuple[float, float] | None
    default_steps: int
    # A sentence every result of this engine carries (the tiny engine says its output is noise).
    notice: str = ""
    # Steps for `quality=draft` (0: same as standard).
    draft_steps: int = 0
    # Width and height must be multiples of this (VAE downsampling times the transformer's patch).
    size_multiple: int = 32
    # Named resolution tables (`SHOTLINE_PRESET`); the first is the default. Empty: `resolutions` only.
    presets: Mapping[str, Mapping[str, tuple[int, int]]] = field(default_factory=dict)
    # False when this deployment cannot make sound (wan without a text-to-audio model).
    sound_available: bool = True
    # What `SHOTLINE_QUALITY` can choose (name → recipe), and the one this deployment runs (`spec_for`).
    recipes: Mapping[str, Recipe] = field(default_factory=dict)
    recipe: Recipe = SINGLE
    # Frame rate per preset where a preset changes it (Wan 2.2 TI2V-5B runs at 24 fps).
    preset_fps: Mapping[str, int] = field(default_factory=dict)

    def generation_frames(self, needed: int) -> int:
        m = self.frame_multiple
        return -(-(needed - 1) // m) * m + 1 if needed > 1 else 1

    def guidance(self, cfg_scale: float) -> float:
        lo, hi = self.guidance_range
        return lo + (hi - lo) * cfg_scale

    def audio_guidance(self, cfg_scale: float) -> float | None:
        if self.audio_guidance_range is None:
            return None
        lo, hi = self.audio_guidance_range
        return lo + (hi - lo) * cfg_scale

    def check_inputs(self, plan: GenerationPlan) -> None:
        """Refuse a plan this engine cannot run, naming the request field and the allowed range."""
        if plan.sound and not self.sound_available:
            raise InputRejected(
                f"sound: engine {self.name} on this server has no text-to-audio model, so it cannot make sound; "
                "send sound=false (the operator can enable sound with SHOTLINE_AUDIO_MODEL)",
                field="sound",
            )
        if plan.aspect_ratio not in self.resolutions:
            allowed = ", ".join(self.resolutions)
            raise InputRejected(
                f"aspect_ratio: engine {self.name} serves {allowed}, got {plan.aspect_ratio}", field="aspect_ratio"
            )
        for shot in plan.shots:
            if shot.frames < 1:
                raise InputRejected(f"multi_prompt: shot {shot.index + 1} would have no frames", field="multi_prompt")
            if shot.generation_frames > self.max_generation_frames:
                longest = (self.max_generation_frames - 1) // self.fps
                field_name = "multi_prompt" if plan.multi_shot else "duration"
                raise InputRejected(
                    f"{field_name}: engine {self.name} makes at most {longest} s per shot at {self.fps} fps, "
                    f"got {shot.frames / self.fps:g} s",
                    field=field_name,
                )


@dataclass(frozen=True)
class StagePlan:
    """A recipe stage at this plan's sizes."""

    name: str
    width: int
    height: int
    steps: int
    guided: bool
    distilled: bool


@dataclass(frozen=True)
class ShotPlan:
    index: int  # 0-based
    prompt: str
    frames: int  # exactly what the video shows for this shot
    generation_frames: int  # what the model makes (frame rule; at least one frame more, for the audio overhang)
    seed: int
    start_frame: int


@dataclass(frozen=True)
class GenerationPlan:
    engine: str
    width: int
    height: int
    fps: int
    total_frames: int
    aspect_ratio: str
    shots: tuple[ShotPlan, ...]
    negative_prompt: str
    guidance_scale: float
    audio_guidance_scale: float | None
    sound: bool
    seed: int
    steps: int
    multi_shot: bool
    # The recipe (`SHOTLINE_QUALITY`) and its stages at this plan's sizes; empty: one stage of `steps`.
    recipe: str = "max"
    stages: tuple[StagePlan, ...] = ()
    guidance_note: str = ""

    @property
    def shot_steps(self) -> int:
        """Denoising steps of one shot, all stages together (what progress counts)."""
        return sum(stage.steps for stage in self.stages) if self.stages else self.steps

    @property
    def total_steps(self) -> int:
        return self.shot_steps * len(self.shots)


def split_frames(total: int, fixed: Sequence[int | None]) -> list[int]:
    """Frames per shot: fixed shots keep theirs, open ones (None) share the rest, frame-exact; earlier
    open shots take the remainder one frame each."""
    open_idx = [i for i, f in enumerate(fixed) if f is None]
    left = total - sum(f for f in fixed if f is not None)
    out = [f if f is not None else 0 for f in fixed]
    if open_idx:
        base, extra = divmod(left, len(open_idx))
        for n, i in enumerate(open_idx):
            out[i] = base + (1 if n < extra else 0)
    return out


def plan_stages(recipe: Recipe, width: int, height: int, steps: int) -> tuple[StagePlan, ...]:
    return tuple(StagePlan(stage.name, width // stage.scale, height // stage.scale, stage.steps or steps,
                           stage.guided, stage.distilled) for stage in recipe.stages)


def plan_generation(request: GenerationRequest, spec: EngineSpec, *, seed: int, steps: int = 0) -> GenerationPlan:
    width, height = spec.resolutions.get(request.aspect_ratio, (0, 0))
    steps = steps or spec.default_steps
    total = request.duration * spec.fps
    frames = split_frames(total, [s.duration * spec.fps if s.duration is not None else None for s in request.shots])
    shots, start = [], 0
    for i, (shot, n) in enumerate(zip(request.shots, frames, strict=True)):
        # Shots get consecutive seeds: each shot differs, and a shot can be regenerated alone.
        shots.append(ShotPlan(i, shot.prompt, n, spec.generation_frames(n + 1), seed + i, start))
        start += n
    plan = GenerationPlan(
        engine=spec.name,
        width=width,
        height=height,
        fps=spec.fps,
        total_frames=total,
        aspect_ratio=request.aspect_ratio,
        shots=tuple(shots),
        negative_prompt=request.negative_prompt,
        guidance_scale=spec.guidance(request.cfg_scale),
        audio_guidance_scale=spec.audio_guidance(request.cfg_scale),
        sound=request.sound,
        seed=seed,
        steps=steps,
        multi_shot=request.multi_shot,
        recipe=spec.recipe.name,
        stages=plan_stages(spec.recipe, width, height, steps),
        guidance_note=spec.recipe.note,
    )
    return plan


# ------------------------------------------------------------------------------------------- running

StepCallback = Callable[[int], None]
"""Called after each denoising step with the number of steps done in the current shot, all stages counted
(`plan.shot_steps` in all). It may raise `GenerationStopped` to stop at that step boundary."""


@dataclass
class ShotOutput:
    frames: Sequence[np.ndarray]  # exactly `shot.frames` uint8 [height, width, 3] RGB frames
    audio: np.ndarray | None = None  # float32 [channels, samples] from the shot's start; may run past its end
    sample_rate: int = 0
    info: dict[str, str] = field(default_factory=dict)


class Engine(abc.ABC):
    spec: EngineSpec

    @abc.abstractmethod
    def load(self) -> None:
        """Load weights once; a worker keeps the engine across tasks."""

    @abc.abstractmethod
    def generate_shot(self, plan: GenerationPlan, shot: ShotPlan, on_step: StepCallback) -> ShotOutput:
        """Generate one shot at its exact frame count (audio only when `plan.sound`)."""

    def release_memory(self) -> None:
        """Free what a failed or stopped generation left behind (GPU caches)."""

    def describe(self) -> dict[str, str]:
        return {"engine": self.spec.name}

    def describe_plan(self, plan: GenerationPlan) -> dict[str, str]:
        """What a result of `plan` says in `extra`: the engine's labels, the recipe that made it, and where
        cfg_scale and negative_prompt acted (or that they could not)."""
        labels = {**self.describe(), "recipe": plan.recipe}
        if plan.guidance_note:
            labels["guidance"] = plan.guidance_note
        return labels
