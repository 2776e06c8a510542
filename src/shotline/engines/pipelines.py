"""What the real-weights engines share: finding and loading weights, device, dtype and memory options, and
running a diffusers pipeline for one shot with progress, cancel, out-of-memory and NaN handling.

Every loading failure becomes a `ModelLoadError` whose text names the path and the fix: it is what users
read as the reason of their failed tasks, and what `/readyz` shows.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from shotline.engines.base import Engine, GenerationPlan, ModelLoadError, ShotPlan, StepCallback
from shotline.engines.registry import spec_for
from shotline.errors import GenerationError, OutOfMemory

if TYPE_CHECKING:
    from shotline.config import Settings

log = logging.getLogger(__name__)

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(setting)
    except RuntimeError as err:
        raise ModelLoadError(f"SHOTLINE_DEVICE={setting!r} is not a device: use auto, cpu, cuda or cuda:N") from err


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    if setting == "auto":
        # CPUs have no fast half-precision matrix kernels; every GPU these models fit supports bf16.
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    return DTYPES[setting]


def locate(model: str, revision: str, setting: str, engine: str) -> Path:
    """A directory for `model`: itself, or its snapshot in the local Hugging Face cache (never downloaded)."""
    guide = f"docs/engines/{engine}.md says which weights to download"
    if not model:
        raise ModelLoadError(f"engine {engine} needs weights: set {setting} to their directory ({guide})")
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ModelLoadError(f"{setting}={model}: no such weights directory ({guide})")
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE

    try:
        return Path(snapshot_download(repo_id=model, revision=revision or None, local_files_only=True))
    except Exception:
        at = f" at revision {revision}" if revision else ""
        raise ModelLoadError(
            f"{setting}={model}: not a directory, and {model}{at} is not in the Hugging Face cache "
            f"({HF_HUB_CACHE}); download it on a machine with internet: huggingface-cli download {model}"
        ) from None


def model_label(model: str, revision: str) -> str:
    """How results name the weights: a repo id as it is, a directory by its last part (never the server's paths)."""
    if Path(model).expanduser().is_dir():
        return Path(model).expanduser().resolve().name
    return f"{model}@{revision}" if revision else model


def check_files(path: Path, pipeline_class: str) -> None:
    """Catch the usual breakage (wrong folder, interrupted download) with a reason that names the file."""
    index = path / "model_index.json"
    try:
        found = json.loads(index.read_text())["_class_name"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ModelLoadError(f"{path} is not a diffusers pipeline: {index} is missing or unreadable; point the "
                             "setting at the folder that holds model_index.json") from None
    if found != pipeline_class:
        raise ModelLoadError(f"{path} holds a {found}, but this engine runs a {pipeline_class}; point it at "
                             f"{pipeline_class} weights")
    from safetensors import safe_open

    for file in sorted(path.rglob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt"):
                pass  # opening checks the header and that the data covers the whole file
        except Exception as err:
            raise ModelLoadError(f"weights file {file} is damaged ({err}); download it again") from None


def quantization_config(kind: str, components: Sequence[str]) -> Any:
    """torchao weight-only quantization for the named components, applied while loading."""
    try:
        from diffusers import PipelineQuantizationConfig, TorchAoConfig
        from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig
    except ImportError:
        raise ModelLoadError(f"SHOTLINE_QUANTIZE={kind} needs torchao: pip install 'shotline[quant]'") from None
    config = Int8WeightOnlyConfig() if kind == "int8" else Float8WeightOnlyConfig()
    return PipelineQuantizationConfig(quant_mapping={name: TorchAoConfig(config) for name in components})


def load_pipeline(cls: Any, model: str | Path, *, settings: Settings, setting: str, engine: str, dtype: Any,
                  revision: str = "", quantize: Sequence[str] = (), **components: Any) -> Any:
    """`cls.from_pretrained` from a directory or the local cache, offline, with a reason on every failure.
    `components` replace the folder's own (a transformer loaded from another subfolder)."""
    path = locate(str(model), revision, setting, engine)
    check_files(path, cls.__name__)
    options: dict[str, Any] = dict(components)
    quantize = [name for name in quantize if name not in components]  # a given component comes quantized
    if settings.quantize != "none" and quantize:
        options["quantization_config"] = quantization_config(settings.quantize, quantize)
    try:
        pipe = cls.from_pretrained(path, dtype=dtype, local_files_only=True, **options)
    except ModelLoadError:
        raise
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0][:300]
        raise ModelLoadError(f"could not load {cls.__name__} weights from {path} ({type(err).__name__}: {first}); "
                             "download them again, or check the diffusers version") from err
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_component(cls: Any, path: Path, *, settings: Settings, dtype: Any, subfolder: str = "",
                   quantize: bool = False) -> Any:
    """One model (`cls.from_pretrained`) from `path` or its `subfolder`, offline, with a reason on failure."""
    options: dict[str, Any] = {"subfolder": subfolder} if subfolder else {}
    if quantize and settings.quantize != "none":
        options["quantization_config"] = quantization_config(settings.quantize, ["x"]).quant_mapping["x"]
    where = path / subfolder if subfolder else path
    try:
        return cls.from_pretrained(path, torch_dtype=dtype, local_files_only=True, **options).eval()
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0][:300]
        raise ModelLoadError(f"could not load the {cls.__name__} from {where} ({type(err).__name__}: {first}); "
                             "download it again, or check the diffusers version") from err


def load_lora(pipe: Any, file: Path, adapter: str, **options: Any) -> None:
    """Load a LoRA file into the pipeline's transformer(s) as a named adapter (needs peft)."""
    try:
        pipe.load_lora_weights(str(file), adapter_name=adapter, **options)
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0][:300]
        hint = "install peft (pip install 'shotline[engines]')" if "PEFT" in str(err) else "check that it is a LoRA of this model"
        raise ModelLoadError(f"could not load the LoRA {file} ({type(err).__name__}: {first}); {hint}") from err


LORA_ADAPTER = "distilled"  # the adapter name of a distilled LoRA (LTX-2's stage 2, Wan's step distillation)


def switch_lora(pipe: Any, on: bool) -> None:
    """Turn the pipeline's LoRA adapters on or off (no weights change). Inside inference mode: peft flips the
    adapters' requires_grad, which torch refuses outside it for weights that offloading moved there."""
    with torch.inference_mode():
        if on:
            pipe.enable_lora()
        else:
            pipe.disable_lora()


class ParkedModule:
    """A module that waits in RAM and visits the device only inside `visit()` (offload=text-encoder)."""

    def __init__(self, module: torch.nn.Module | None, device: torch.device, parked: bool) -> None:
        self.module, self.device, self.parked = module, device, parked

    @contextlib.contextmanager
    def visit(self) -> Iterator[None]:
        if not self.parked or self.module is None:
            yield
            return
        self.module.to(self.device)
        try:
            yield
        finally:
            self.module.to("cpu")
            empty_device_cache()


def place(pipe: Any, settings: Settings, device: torch.device, park: str = "text_encoder") -> ParkedModule:
    """Put the pipeline on `device` according to the memory settings; returns the parked text encoder."""
    if settings.vae_tiling:
        pipe.vae.enable_tiling()
    parked = settings.offload == "text-encoder" and device.type != "cpu"
    if settings.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif settings.offload == "group":
        # diffusers' group offloading rather than accelerate's sequential offload, which fails with
        # transformers 5 text encoders ("new() received an invalid combination of arguments").
        pipe.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"), offload_type="leaf_level",
                                  use_stream=device.type == "cuda")
    else:
        for name, component in pipe.components.items():
            if isinstance(component, torch.nn.Module) and not (parked and name == park):
                component.to(device)
    return ParkedModule(getattr(pipe, park, None), device, parked)


def speed_up(pipe: Any, settings: Settings) -> None:
    """SHOTLINE_ATTENTION_BACKEND and SHOTLINE_COMPILE on the pipeline's transformers (Wan 2.2 has two)."""
    transformers = [t for t in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if t]
    for transformer in transformers:
        if settings.attention_backend:
            try:
                transformer.set_attention_backend(settings.attention_backend)
            except Exception as err:
                raise ModelLoadError(
                    f"SHOTLINE_ATTENTION_BACKEND={settings.attention_backend} cannot run here ({type(err).__name__}: "
                    f"{str(err).splitlines()[0][:200] if str(err) else ''}); install its package or unset it"
                ) from err
        if settings.compile:
            # Regional compilation: the transformer's repeated block is compiled once and reused by every
            # layer, so a cold start costs one block's compile instead of the whole model's.
            if getattr(transformer, "_repeated_blocks", None):
                transformer.compile_repeated_blocks()  # graph breaks fall back to eager, never fail
            else:
                transformer.compile()


def empty_device_cache() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


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


def check_finite(values: torch.Tensor | np.ndarray, what: str) -> None:
    # One reduction instead of a mask as large as the clip: a NaN or inf anywhere makes the sum non-finite,
    # and pictures (0..1) and sound (-1..1) are far too small to overflow float32 on their own.
    total = values.sum(dtype=torch.float32) if isinstance(values, torch.Tensor) else values.sum(dtype=np.float32)
    if not bool(np.isfinite(float(total))):
        raise GenerationError(f"the model produced invalid numbers (NaN) in the {what}; try another seed, or "
                              "SHOTLINE_DTYPE=bf16 if the server runs in fp16")


def exact_frames(frames: torch.Tensor, shot: ShotPlan) -> TensorFrames:
    if frames.shape[0] < shot.frames:
        raise GenerationError(f"the model returned {frames.shape[0]} frames for a shot of {shot.frames}; this is "
                              "a bug in the engine, please report it")
    check_finite(frames, "picture")
    return TensorFrames(frames[: shot.frames])


class PipelineEngine(Engine):
    """An engine around one diffusers pipeline. Subclasses set `engine_name` and implement `load` and
    `generate_shot` with `run_pipeline`."""

    engine_name = ""
    max_sequence_length = 512

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.spec = spec_for(self.engine_name, settings)
        self.pipeline: Any = None
        self.text_encoder = ParkedModule(None, torch.device("cpu"), parked=False)
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self._step = 0  # steps done in the running call, for the out-of-memory reason

    def load_weights(self, cls: Any, *, quantize: Sequence[str] = (), float32: Sequence[str] = ()) -> Any:
        """`cls` from SHOTLINE_MODEL in the configured dtype (the components named in `float32` excepted),
        to run on the configured device."""
        self.device = resolve_device(self.settings.device)
        self.dtype = resolve_dtype(self.settings.dtype, self.device)
        dtype: Any = {**dict.fromkeys(float32, torch.float32), "default": self.dtype} if float32 else self.dtype
        return load_pipeline(cls, self.settings.model, settings=self.settings, setting="SHOTLINE_MODEL",
                             engine=self.engine_name, dtype=dtype, revision=self.settings.model_revision,
                             quantize=quantize)

    def adopt(self, pipe: Any) -> None:
        """Apply the memory and speed settings to a loaded (or built) pipeline and keep it for every task."""
        self.text_encoder = place(pipe, self.settings, self.device)
        speed_up(pipe, self.settings)
        self.pipeline = pipe

    def describe(self) -> dict[str, str]:
        return {"engine": self.spec.name, "model": model_label(self.settings.model, self.settings.model_revision)}

    def encode(self, prompt: str, negative_prompt: str, guided: bool = True) -> dict[str, torch.Tensor]:
        """The pipeline's prompt-embedding arguments (with the negative prompt's where `guided`), encoded with
        the text encoder visiting the device."""
        raise NotImplementedError

    def run_pipeline(self, plan: GenerationPlan, shot: ShotPlan, on_step: StepCallback, guided: bool = True,
                     **options: Any) -> Any:
        """One pipeline call for `shot` with what every engine passes; `options` add or override the model's own."""
        if self.pipeline is None:
            raise RuntimeError("engine not loaded")
        generator = torch.Generator(device="cpu").manual_seed(shot.seed)
        call: dict[str, Any] = {
            "height": plan.height, "width": plan.width, "num_frames": shot.generation_frames,
            "num_inference_steps": plan.steps, "guidance_scale": plan.guidance_scale, "generator": generator,
            "output_type": "pt", "callback_on_step_end": self.step_callback(on_step),
            "max_sequence_length": self.max_sequence_length,
        }
        call.update(options)
        with self.memory_errors(plan, shot, steps=call["num_inference_steps"]), torch.inference_mode():
            return self.pipeline(**self.encode(shot.prompt, plan.negative_prompt, guided), **call)

    def step_callback(self, on_step: StepCallback, done_before: int = 0) -> Callable[..., dict]:
        """The pipeline's `callback_on_step_end`: progress (`done_before`: steps of earlier stages), and cancel
        by raising at the step boundary (an exception there aborts the call at once and leaves the pipeline
        reusable)."""

        def step_end(_pipe: Any, step: int, _t: Any, _kwargs: dict) -> dict:
            self._step = step + 1
            on_step(done_before + step + 1)
            return {}

        return step_end

    @contextlib.contextmanager
    def memory_errors(self, plan: GenerationPlan, shot: ShotPlan, stage: str = "", steps: int | None = 0
                      ) -> Iterator[None]:
        """Turn out-of-memory into a task failure with advice that names the `stage` (and the step of its
        `steps`; None: a stage without steps, such as the upsampler). The reason is raised outside the
        `except` block so the original exception, whose traceback holds the step's tensors, is gone by then."""
        self._step = 0
        where = ""
        try:
            yield
        except torch.OutOfMemoryError:
            where = "GPU"
        except MemoryError:
            where = "host"
        if where:
            progress = (self._step, steps or plan.steps) if steps is not None else None
            raise OutOfMemory(oom_reason(plan, shot, where, progress, stage, self.settings))

    def release_memory(self) -> None:
        empty_device_cache()


def oom_reason(plan: GenerationPlan, shot: ShotPlan, where: str, progress: tuple[int, int] | None, stage: str,
               settings: Settings) -> str:
    seconds = shot.frames / plan.fps
    if progress is None:
        when = f"in the {stage}"
    else:
        step, steps = progress
        when = "while decoding" if step >= steps else f"at step {step + 1} of {steps}"
        if stage:
            when = f"{when} of the {stage}"
    advice = "try a shorter duration, or split the video into shorter shots with multi_prompt"
    if where == "GPU" and settings.offload in ("none", "text-encoder"):
        advice += "; the operator can set SHOTLINE_OFFLOAD=model or SHOTLINE_QUANTIZE=fp8"
    return f"out of {where} memory at {plan.width}x{plan.height}, {seconds:g} s per shot ({when}): {advice}"
