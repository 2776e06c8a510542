"""Engines by name: one model family per folder (`ltx2/`, `wan/`, `tiny/`), registered here by one line each.

A family's package is plain Python and declares `SPEC` (what it can do), `ENGINE` ("module:Class", imported
only by a worker, with torch), `TINY` (the tiny random weights `shotline models tiny` writes: kind ->
"module:function"), and optionally `auto_recipe(settings)` (what SHOTLINE_QUALITY=auto runs) and
`default_preset(settings)` (the preset when SHOTLINE_PRESET is empty).
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shotline.config import Settings
    from shotline.engines.base import Engine, EngineSpec

FAMILIES = {
    "tiny": "shotline.engines.tiny",
    "ltx2": "shotline.engines.ltx2",
    "wan": "shotline.engines.wan",
}


def family(name: str) -> ModuleType:
    return importlib.import_module(FAMILIES[name])


def names() -> list[str]:
    return sorted(FAMILIES)


def get_spec(name: str) -> EngineSpec:
    if ":" in name:  # "package.module:Class": an engine outside Shotline (a plugin, a benchmark's no-op)
        return _plugin(name).spec
    if name not in FAMILIES:
        raise ValueError(f"unknown engine {name!r}; choose one of: {', '.join(names())}, "
                         "or package.module:Class")
    return family(name).SPEC


def _plugin(name: str) -> type[Engine]:
    """An engine class named `module:Class`. Its module must not import torch at import time, since the
    API process reads its `spec` too."""
    module_name, _, cls_name = name.partition(":")
    try:
        return getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"engine {name!r} cannot be imported: {err}") from None


def spec_for(name: str, settings: Settings) -> EngineSpec:
    """The engine's spec as this deployment runs it: the resolution preset (and its frame rate), the recipe
    of SHOTLINE_QUALITY, and whether sound is available. Plain data, like `get_spec`."""
    spec = get_spec(name)
    module = family(name) if name in FAMILIES else None
    changes: dict[str, object] = {}
    if spec.presets:
        preset = settings.preset or (getattr(module, "default_preset", lambda _s: None)(settings)
                                     or next(iter(spec.presets)))
        if preset not in spec.presets:
            raise ValueError(f"SHOTLINE_PRESET={preset!r} is not a preset of engine {name}; choose one of: "
                             f"{', '.join(spec.presets)}")
        changes["resolutions"] = dict(spec.presets[preset])
        if preset in spec.preset_fps:
            changes["fps"] = spec.preset_fps[preset]
    if spec.recipes:
        quality = settings.quality
        if quality == "auto":
            quality = module.auto_recipe(settings) if hasattr(module, "auto_recipe") else next(iter(spec.recipes))
        if quality not in spec.recipes:
            raise ValueError(f"SHOTLINE_QUALITY={quality!r} is not a recipe of engine {name}; choose one of: auto, "
                             f"{', '.join(spec.recipes)}")
        recipe = spec.recipes[quality]
        changes["recipe"] = recipe
        if recipe.name == "draft" and spec.draft_steps:
            changes["default_steps"] = spec.draft_steps
        multiple = spec.size_multiple * recipe.scale
        sizes = changes.get("resolutions", spec.resolutions)
        wrong = {ratio: size for ratio, size in sizes.items() if size[0] % multiple or size[1] % multiple}  # type: ignore[union-attr]
        if wrong:
            raise ValueError(f"recipe {recipe.name} of engine {name} needs sizes divisible by {multiple}, but the "
                             f"preset has {wrong}; choose another SHOTLINE_PRESET or SHOTLINE_QUALITY")
    if not spec.native_audio and not settings.audio_model:
        changes["sound_available"] = False
    return replace(spec, **changes) if changes else spec


def create_engine(name: str, settings: Settings) -> Engine:
    """Instantiate (not load) the engine; this is where torch and diffusers get imported."""
    get_spec(name)
    if ":" in name:
        return _plugin(name)(settings)
    module_name, _, cls_name = family(name).ENGINE.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RuntimeError(
            f"engine {name!r} needs the generation extras: pip install 'shotline[engines]' ({err})"
        ) from err
    return getattr(module, cls_name)(settings)


def tiny_kinds() -> dict[str, str]:
    """Every kind of tiny random weights the families can write (kind -> "module:function")."""
    return {kind: target for name in FAMILIES for kind, target in family(name).TINY.items()}


def save_tiny(kind: str, directory: Path) -> Path:
    """Write tiny random weights of `kind` in the real on-disk layout (`save_pretrained`)."""
    kinds = tiny_kinds()
    if kind not in kinds:
        raise ValueError(f"no tiny pipeline {kind!r}; choose one of: {', '.join(kinds)}")
    module_name, _, func = kinds[kind].partition(":")
    return getattr(importlib.import_module(module_name), func)(Path(directory))
