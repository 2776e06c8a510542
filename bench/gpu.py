"""Seconds per stage, total seconds and peak memory of each recipe, through Shotline's engines, on full-size
models with random weights (`python -m bench.gpu`; for a GPU machine without network or weights).

Full size (`--size full`, the default where CUDA is available): every transformer, VAE, vocoder, connector
and latent upsampler is built from the real configs shipped in `bench/configs/` (taken from diffusers'
`scripts/convert_ltx2_to_diffusers.py` and `convert_wan_to_diffusers.py`), with random bf16 weights created
on the device: nothing is downloaded. The text encoders (Gemma 12B, UMT5-XXL) are not built: each shot's
prompt embedding is random, of the real shape; they run once per shot and are left out of the figures. A
random LoRA of the real ranks (LTX-2's distilled LoRA 384, LightX2V's 64) stands in for the distilled LoRAs,
so `standard` pays for an unfused adapter in its second stage exactly as it would with the real file; what
fusing it per request would cost instead is measured beside it.

Tiny size (`--size tiny`, on a CPU, in CI): the same code path on `shotline models tiny` weights built in
code, and every shipped config checked by building its model on the meta device (parameter counts).

One JSON line per figure: a recipe's run (seconds per stage, upsampler, decode, total, peak memory), the
LoRA's costs, and each config's check.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # Shotline from the repository, installed or not

CONFIGS = Path(__file__).resolve().parent / "configs"
LTX2_MODELS = ("ltx2-2.0", "ltx2-2.3", "ltx2-2.5")
WAN_MODELS = ("wan-2.1-t2v-14b", "wan-2.2-t2v-a14b", "wan-2.2-ti2v-5b")
LTX2_LORA_RANK = 384  # ltx-2-19b-distilled-lora-384
WAN_LORA_RANK = 64  # lightx2v_T2V_14B_cfg_step_distill_lora_rank64


def emit(figure: dict) -> None:
    print(json.dumps(figure), flush=True)


def config(model: str, part: str) -> dict[str, Any]:
    path = CONFIGS / model / f"{part}.json"
    if not path.exists() and model == "ltx2-2.5" and part in ("connectors", "latent_upsampler"):
        # LTX-2.5's connectors take Gemma 4's width and its upsampler is not in the converter: 2.3's stand in
        # (they run once per shot, and between the stages).
        path = CONFIGS / "ltx2-2.3" / f"{part}.json"
    return json.loads(path.read_text())


@contextlib.contextmanager
def building(device: Any, dtype: Any) -> Iterator[None]:
    """Create modules directly on `device` in `dtype`: a 22B model never exists in float32 or on the host."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


# ------------------------------------------------------------------------------------------------ LTX-2


def build_ltx2(model: str, device: Any, dtype: Any) -> Any:
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE

    with building(device, dtype):
        transformer = LTX2VideoTransformer3DModel.from_config(config(model, "transformer"))
        connectors = LTX2TextConnectors.from_config(config(model, "connectors"))
        vae = AutoencoderKLLTX2Video.from_config(config(model, "vae"))
        audio_vae = AutoencoderKLLTX2Audio.from_config(config(model, "audio_vae"))
        vocoder_config = config(model, "vocoder")
        vocoder_cls = LTX2VocoderWithBWE if "bwe_in_channels" in vocoder_config else LTX2Vocoder
        vocoder = vocoder_cls.from_config(vocoder_config)
    # LTX-2's shipped scheduler (dynamic shifting for the full model; the engine derives the distilled one).
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    pipe = LTX2Pipeline(scheduler=scheduler, vae=vae, audio_vae=audio_vae, text_encoder=None, tokenizer=None,
                        connectors=connectors, transformer=transformer, vocoder=vocoder)
    for module in (transformer, connectors, vae, audio_vae, vocoder):
        module.eval()
    return pipe


def build_upsampler(model: str, device: Any, dtype: Any) -> Any:
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    with building(device, dtype):
        return LTX2LatentUpsamplerModel.from_config(config(model, "latent_upsampler")).eval()


def ltx2_engine(size: str, model: str, device: Any, dtype: Any) -> Any:
    """An LTX2Engine around a built pipeline, its prompts embedded at random in the real shape."""
    import torch

    from shotline.config import Settings
    from shotline.engines.ltx2.engine import LTX2Engine
    from shotline.engines.ltx2.tiny import build_tiny_ltx2_pipeline, build_tiny_upsampler
    from shotline.engines.ltx2.versions import detect_version

    class BenchLTX2(LTX2Engine):
        engine_name = "ltx2"

        def load(self) -> None:
            self.device, self.dtype = device, dtype
            if size == "tiny":
                pipe, upsampler = build_tiny_ltx2_pipeline(), build_tiny_upsampler()
                self.max_sequence_length = 64
            else:
                pipe, upsampler = build_ltx2(model, device, dtype), build_upsampler(model, device, dtype)
                gemma = "gemma4" if model == "ltx2-2.5" else "gemma3"
                self.version = detect_version({"_class_name": "LTX2VideoTransformer3DModel",
                                               **config(model, "transformer")}, {"model_type": gemma}, model)
            self.attach_upsampler(pipe, upsampler)
            self.adopt(pipe)

        def encode(self, prompt: str, negative_prompt: str, guided: bool = True) -> dict[str, Any]:
            if size == "tiny":
                return super().encode(prompt, negative_prompt, guided)
            c = self.pipeline.connectors.config
            width = c.caption_channels * c.text_proj_in_factor  # every Gemma layer's hidden state, stacked
            shape = (1, self.max_sequence_length, width)
            g = torch.Generator(device=device).manual_seed(0)
            embeds = {"prompt_embeds": torch.randn(shape, generator=g, device=device, dtype=dtype),
                      "prompt_attention_mask": torch.ones(shape[:2], device=device, dtype=torch.long)}
            if guided:
                embeds |= {"negative_prompt_embeds": torch.randn(shape, generator=g, device=device, dtype=dtype),
                           "negative_prompt_attention_mask": torch.ones(shape[:2], device=device, dtype=torch.long)}
            return embeds

    settings = Settings(_env_file=None, engine="ltx2", preset="test" if size == "tiny" else "720p", device=str(device))
    engine = BenchLTX2(settings)
    engine.load()
    return engine


def use_ltx2_recipe(engine: Any, recipe: str) -> None:
    """Point the engine at `recipe`: `fast` on the transformer as a distilled checkpoint, `standard` with the
    distilled LoRA in its second stage, `max` on the full model."""
    engine.spec = replace(engine.spec, recipe=engine.spec.recipes[recipe])
    engine.main_distilled = recipe == "fast"


# -------------------------------------------------------------------------------------------------- Wan


def build_wan(model: str, device: Any, dtype: Any) -> Any:
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    with building(device, dtype):
        transformer = WanTransformer3DModel.from_config(config(model, "transformer")).eval()
        transformer_2 = (WanTransformer3DModel.from_config(config(model, "transformer")).eval()
                         if model == "wan-2.2-t2v-a14b" else None)
    # Wan's VAE runs in float32 (as the engine loads it).
    with building(device, torch.float32):
        vae_config = config(model, "vae") if (CONFIGS / model / "vae.json").exists() else {}
        vae = AutoencoderKLWan.from_config(vae_config).eval()
    shift = 5.0 if "ti2v" in model else 3.0
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift)
    options: dict[str, Any] = {}
    if transformer_2 is not None:
        options["boundary_ratio"] = 0.875
    if "ti2v" in model:
        options["expand_timesteps"] = True
    return WanPipeline(tokenizer=None, text_encoder=None, vae=vae, transformer=transformer, scheduler=scheduler,
                       transformer_2=transformer_2, **options)


def wan_engine(size: str, model: str, device: Any, dtype: Any) -> Any:
    import torch

    from shotline.config import Settings
    from shotline.engines.ltx2.tiny import tiny_lora_layers
    from shotline.engines.pipelines import LORA_ADAPTER
    from shotline.engines.wan.engine import WanEngine, distilled_scheduler
    from shotline.engines.wan.tiny import build_tiny_wan_pipeline

    class BenchWan(WanEngine):
        def load(self) -> None:
            self.device, self.dtype = device, dtype
            pipe = build_tiny_wan_pipeline() if size == "tiny" else build_wan(model, device, dtype)
            self.schedulers = {False: pipe.scheduler, True: distilled_scheduler(pipe.scheduler.config)}
            rank = 4 if size == "tiny" else WAN_LORA_RANK
            for target, extra in ((pipe.transformer, {}), (pipe.transformer_2, {"load_into_transformer_2": True})):
                if target is not None:
                    layers = tiny_lora_layers(target, rank=rank)
                    pipe.load_lora_weights({f"transformer.{k}": v for k, v in layers.items()},
                                           adapter_name=LORA_ADAPTER, **extra)
            self.lora = True
            self.adopt(pipe)

        def encode(self, prompt: str, negative_prompt: str, guided: bool = True) -> dict[str, Any]:
            if size == "tiny":
                return super().encode(prompt, negative_prompt, guided)
            shape = (1, self.max_sequence_length, 4096)  # UMT5-XXL's width
            g = torch.Generator(device=device).manual_seed(0)
            embeds = {"prompt_embeds": torch.randn(shape, generator=g, device=device, dtype=dtype)}
            if guided:
                embeds["negative_prompt_embeds"] = torch.randn(shape, generator=g, device=device, dtype=dtype)
            return embeds

    preset = "test" if size == "tiny" else ("ti2v-720p" if "ti2v" in model else "720p")
    engine = BenchWan(Settings(_env_file=None, engine="wan", preset=preset, device=str(device)))
    engine.load()
    return engine


# ---------------------------------------------------------------------------------------------- running


def sync(device: Any) -> None:
    import torch

    if getattr(device, "type", "") == "cuda":
        torch.cuda.synchronize(device)


def run_recipe(engine: Any, model: str, recipe: str, seconds: int, steps: int, device: Any) -> dict:
    """One shot of `seconds`, 16:9, with sound where the model makes it, timed stage by stage."""
    import torch

    from shotline.engines.base import plan_generation
    from shotline.protocol.kling import CreateTaskRequest

    sound = engine.spec.native_audio
    request = CreateTaskRequest(prompt="a red fox runs through snow", duration=seconds, sound=sound).normalized()
    plan = plan_generation(request, engine.spec, seed=0, steps=steps)
    marks: list[float] = []

    def on_step(_done: int) -> None:
        sync(device)
        marks.append(time.perf_counter())

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    out = engine.generate_shot(plan, plan.shots[0], on_step)
    sync(device)
    total = time.perf_counter() - t0
    figure: dict[str, Any] = {"name": "gpu_recipe", "model": model, "recipe": recipe, "seconds": seconds,
                              "width": plan.width, "height": plan.height, "frames": plan.shots[0].generation_frames,
                              "sound": sound}
    # Step marks: each stage's steps, then (two stages) one mark after the upsampler, which repeats a count.
    index, start = 0, t0
    for n, stage in enumerate(plan.stages):
        if n:  # the mark after the upsampler closes the upsample time
            figure["upsample_s"] = round(marks[index] - start, 3)
            start = marks[index]
            index += 1
        end = marks[index + stage.steps - 1]
        key = stage.name.replace(" ", "_")
        figure[f"{key}_s"] = round(end - start, 3)
        figure[f"{key}_steps"] = stage.steps
        figure[f"{key}_size"] = f"{stage.width}x{stage.height}"
        start, index = end, index + stage.steps
    figure["decode_s"] = round(t0 + total - start, 3)  # VAE (and vocoder), after the last step
    figure["total_s"] = round(total, 3)
    if device.type == "cuda":
        figure["peak_vram_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    assert len(out.frames) == plan.shots[0].frames
    return figure


def lora_costs(engine: Any, model: str, rank: int, device: Any) -> dict:
    """What applying the distilled LoRA costs: loading it (once, at start), and fusing then unfusing it (what
    paying for it per request would cost instead of an adapter switched on for stage 2)."""
    from shotline.engines.ltx2.tiny import tiny_lora_layers

    pipe = engine.pipeline
    t0 = time.perf_counter()
    layers = tiny_lora_layers(pipe.transformer, rank=rank, seed=1)
    pipe.load_lora_weights({f"transformer.{k}": v for k, v in layers.items()}, adapter_name="probe")
    sync(device)
    loaded = time.perf_counter()
    pipe.set_adapters("probe")
    pipe.fuse_lora(adapter_names=["probe"])
    sync(device)
    fused = time.perf_counter()
    pipe.unfuse_lora()
    sync(device)
    unfused = time.perf_counter()
    pipe.delete_adapters("probe")
    return {"name": "gpu_lora", "model": model, "rank": rank, "load_s": round(loaded - t0, 3),
            "fuse_s": round(fused - loaded, 3), "unfuse_s": round(unfused - fused, 3)}


def check_configs() -> list[dict]:
    """Every shipped config builds its model (on the meta device: no memory), with its parameter count."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Video,
        AutoencoderKLWan,
        LTX2VideoTransformer3DModel,
        WanTransformer3DModel,
    )
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    classes = {"transformer": (LTX2VideoTransformer3DModel, WanTransformer3DModel),
               "vae": (AutoencoderKLLTX2Video, AutoencoderKLWan), "latent_upsampler": (LTX2LatentUpsamplerModel,) * 2}
    figures = []
    for folder in sorted(CONFIGS.iterdir()):
        for part, (ltx_cls, wan_cls) in classes.items():
            if not (folder / f"{part}.json").exists():
                continue
            cls = ltx_cls if folder.name.startswith("ltx2") else wan_cls
            with torch.device("meta"):
                module = cls.from_config(json.loads((folder / f"{part}.json").read_text()))
            params = sum(p.numel() for p in module.parameters())
            figures.append({"name": "gpu_config", "model": folder.name, "part": part,
                            "params_b": round(params / 1e9, 3)})
    return figures


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["full", "tiny"], default="full" if torch.cuda.is_available() else "tiny")
    parser.add_argument("--models", default="ltx2-2.3,wan-2.2-ti2v-5b",
                        help=f"comma-separated, from: {', '.join(LTX2_MODELS + WAN_MODELS)}")
    parser.add_argument("--recipes", default="fast,standard,max")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=0, help="steps of the guided stages (0: the engine's default)")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if args.size == "full" else "cpu")
    dtype = torch.bfloat16 if args.size == "full" else torch.float32
    if args.size == "full" and not torch.cuda.is_available():
        parser.error("--size full needs a CUDA GPU")
    recipes = [r for r in args.recipes.split(",") if r]
    if args.size == "tiny":
        for figure in check_configs():
            emit(figure)
    for model in [m for m in args.models.split(",") if m]:
        if model not in LTX2_MODELS + WAN_MODELS:
            parser.error(f"unknown model {model}; choose from {', '.join(LTX2_MODELS + WAN_MODELS)}")
        t0 = time.perf_counter()
        ltx = model.startswith("ltx2")
        engine = (ltx2_engine if ltx else wan_engine)(args.size, model, device, dtype)
        sync(device)
        emit({"name": "gpu_build", "model": model, "size": args.size, "device": str(device),
              "build_s": round(time.perf_counter() - t0, 3)})
        for recipe in recipes:
            if recipe not in engine.spec.recipes:
                continue
            if ltx:
                use_ltx2_recipe(engine, recipe)
            else:
                engine.spec = replace(engine.spec, recipe=engine.spec.recipes[recipe])
            if recipe == "standard" and ltx and not engine.lora:
                rank = 4 if args.size == "tiny" else LTX2_LORA_RANK
                emit(lora_costs(engine, model, rank, device))
                from shotline.engines.ltx2.tiny import tiny_lora_layers
                from shotline.engines.pipelines import LORA_ADAPTER, switch_lora

                layers = tiny_lora_layers(engine.pipeline.transformer, rank=rank)
                engine.pipeline.load_lora_weights({f"transformer.{k}": v for k, v in layers.items()},
                                                  adapter_name=LORA_ADAPTER)
                switch_lora(engine.pipeline, False)
                engine.lora = True
            try:
                emit(run_recipe(engine, model, recipe, args.seconds, args.steps, device))
            except torch.OutOfMemoryError as err:
                emit({"name": "gpu_recipe", "model": model, "recipe": recipe, "error": f"out of memory: {err}"})
        del engine
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


def run() -> list[dict]:
    """`python -m bench gpu`: full size on a GPU, tiny (two steps) on a CPU; the figures print as they come."""
    import torch

    main([] if torch.cuda.is_available() else ["--size", "tiny", "--steps", "2",
                                                "--models", "ltx2-2.0,wan-2.1-t2v-14b"])
    return []


if __name__ == "__main__":
    sys.exit(main())
