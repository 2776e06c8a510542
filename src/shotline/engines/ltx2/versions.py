"""Which LTX-2.x a weights folder holds, what it ships (distilled transformer, full transformer, distilled
LoRA, latent upsampler), and each version's recommended guidance. Plain Python reading JSON: the API process
uses it to choose a recipe without importing torch.

Versions are told apart by the transformer's config, as diffusers' `scripts/convert_ltx2_to_diffusers.py`
writes it, checked against the text encoder's:

    2.0 (19B): gated_attn false                                  text encoder Gemma 3
    2.3 (22B): gated_attn true,  ff_bias true                    text encoder Gemma 3
    2.5 (22B): gated_attn true,  ff_bias false (keyframe embed)  text encoder Gemma 4

A distilled transformer is recognised by its folder (`transformer/` next to `transformer_full/`, the
LTX-2.5-Diffusers layout) or by a scheduler set to use the distilled sigmas as given
(`use_dynamic_shifting: false`), which is how distilled checkpoints ship.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shotline.errors import ModelLoadError
from shotline.engines.weights import read_json

TRANSFORMER_CLASS = "LTX2VideoTransformer3DModel"
LORA_PATTERN = "*distilled-lora*.safetensors"


@dataclass(frozen=True)
class Guidance:
    """A version's recommended multimodal guidance (diffusers' LTX-2 docs; the LTX-2 pipeline's docstring)."""

    stg_block: int  # the transformer block spatio-temporal guidance perturbs
    stg_scale: float = 1.0
    modality_scale: float = 3.0
    rescale: float = 0.7


# Classifier-free guidance itself comes from the request's cfg_scale (0.5 → 3.0 picture, 7.0 sound: every
# version's recommended value); see spec.py.
GUIDANCE = {
    "2.0": Guidance(stg_block=29),
    "2.3": Guidance(stg_block=28),
    "2.5": Guidance(stg_block=28),
}
NAMES = {"2.0": "LTX-2 (19B)", "2.3": "LTX-2.3 (22B)", "2.5": "LTX-2.5 (22B)"}


class UnknownLayout(ModelLoadError):
    """The folder is not an LTX-2.x pipeline this engine knows; the text says what was found."""


def detect_version(transformer: dict[str, Any], text_encoder: dict[str, Any], where: str) -> str:
    """"2.0", "2.3" or "2.5" from the configs, or `UnknownLayout` naming what was found."""
    found = (f"{where}: transformer {transformer.get('_class_name', 'missing')} with gated_attn="
             f"{transformer.get('gated_attn', False)}, ff_bias={transformer.get('ff_bias', True)}, "
             f"use_keyframes_abs_pos_embedding={transformer.get('use_keyframes_abs_pos_embedding', False)}; "
             f"text encoder {text_encoder.get('model_type', 'missing')}")
    if transformer.get("_class_name") != TRANSFORMER_CLASS:
        raise UnknownLayout(f"not an LTX-2.x transformer ({found}); point SHOTLINE_MODEL at LTX-2, LTX-2.3 or "
                            "LTX-2.5 weights in diffusers format (docs/engines/ltx2.md)")
    gemma4 = str(text_encoder.get("model_type", "")).startswith("gemma4")
    if not transformer.get("gated_attn", False):
        version = "2.0"
    elif transformer.get("ff_bias", True) and not transformer.get("use_keyframes_abs_pos_embedding", False):
        version = "2.3"
    else:
        version = "2.5"
    if gemma4 != (version == "2.5"):
        raise UnknownLayout(f"an LTX-2.x layout this engine does not know ({found}): LTX-2.0 and 2.3 pair with a "
                            "Gemma 3 text encoder, LTX-2.5 with Gemma 4; download the weights again "
                            "(docs/engines/ltx2.md lists the repositories)")
    return version


@dataclass(frozen=True)
class LTX2Weights:
    """What one LTX-2.x weights folder offers."""

    root: Path
    version: str
    full: str | None  # subfolder of the full (guided, non-distilled) transformer
    distilled: str | None  # subfolder of a distilled transformer
    lora: Path | None  # the distilled LoRA (stage 2 of `standard`; both stages of `fast` without `distilled`)
    upsampler: Path | None  # the x2 latent spatial upsampler folder

    @property
    def two_stage(self) -> bool:
        return self.upsampler is not None

    def recipes(self) -> list[str]:
        """The recipes these weights can run, best first."""
        out = []
        distilled_model = self.distilled is not None or (self.full is not None and self.lora is not None)
        if self.two_stage and distilled_model:
            out.append("fast")
        if self.two_stage and self.full is not None and (self.distilled is not None or self.lora is not None):
            out.append("standard")
        if self.full is not None:
            out += ["max", "draft"]
        return out

    def auto_recipe(self) -> str:
        """The default: `fast` with a distilled checkpoint, else `standard` where a distilled LoRA and the
        upsampler make it possible, else the single-stage `max`."""
        recipes = self.recipes()
        if self.distilled is not None and "fast" in recipes:
            return "fast"
        if "standard" in recipes:
            return "standard"
        return recipes[0] if recipes else "max"

    def describe(self) -> str:
        parts = [f"{NAMES[self.version]}"]
        if self.distilled:
            parts.append(f"distilled transformer in {self.distilled}/")
        if self.full:
            parts.append(f"full transformer in {self.full}/")
        parts.append(f"distilled LoRA {self.lora.name}" if self.lora else "no distilled LoRA")
        parts.append("latent upsampler" if self.upsampler else "no latent upsampler")
        return ", ".join(parts)


def inspect_weights(root: Path, lora: str = "", upsampler: str = "") -> LTX2Weights:
    """Read `root` (a diffusers LTX-2.x folder); `lora` and `upsampler` are the settings (empty: look in root)."""
    index = read_json(root / "model_index.json")
    if index.get("_class_name") != "LTX2Pipeline":
        raise UnknownLayout(f"{root} is not an LTX2Pipeline folder (model_index.json names "
                            f"{index.get('_class_name', 'nothing')}); point SHOTLINE_MODEL at the folder that holds "
                            "an LTX-2.x model_index.json")
    text_encoder = read_json(root / "text_encoder" / "config.json")
    text_config = text_encoder.get("text_config") or {}
    text_encoder = {"model_type": text_encoder.get("model_type") or text_config.get("model_type", "missing")}
    version = detect_version(read_json(root / "transformer" / "config.json"), text_encoder, str(root))
    scheduler = read_json(root / "scheduler" / "scheduler_config.json")
    if (root / "transformer_full" / "config.json").exists():
        full, distilled = "transformer_full", "transformer"
    elif scheduler.get("use_dynamic_shifting", True) is False:
        full, distilled = None, "transformer"
    else:
        full, distilled = "transformer", None
    lora_path = Path(lora).expanduser() if lora else next(iter(sorted(root.glob(LORA_PATTERN))), None)
    if lora_path is not None and not lora_path.is_file():
        raise UnknownLayout(f"SHOTLINE_DISTILL_LORA={lora}: no such file; point it at the distilled LoRA "
                            "(.safetensors) or unset it to use the one in the model folder")
    up_path = Path(upsampler).expanduser() if upsampler else root / "latent_upsampler"
    if not (up_path / "config.json").exists():
        if upsampler:
            raise UnknownLayout(f"SHOTLINE_LATENT_UPSAMPLER={upsampler}: no latent upsampler there (config.json "
                                "missing); point it at the latent_upsampler folder")
        up_path = None
    return LTX2Weights(root, version, full, distilled, lora_path, up_path)

