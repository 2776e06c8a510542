"""Engines by name. Specs are plain data; implementations are imported only when a worker loads one."""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import TYPE_CHECKING

from shotline.engines.specs import SPECS

if TYPE_CHECKING:
    from shotline.config import Settings
    from shotline.engines.base import Engine, EngineSpec

_IMPLEMENTATIONS = {
    "tiny": "shotline.engines.tiny:TinyEngine",
    "ltx2": "shotline.engines.ltx2:LTX2Engine",
    "wan": "shotline.engines.wan:WanEngine",
}


def names() -> list[str]:
    return sorted(SPECS)


def get_spec(name: str) -> EngineSpec:
    if ":" in name:  # "package.module:Class": an engine outside Shotline (a plugin, a benchmark's no-op)
        return _plugin(name).spec
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; choose one of: {', '.join(names())}, "
                         "or package.module:Class") from None


def _plugin(name: str) -> type[Engine]:
    """An engine class named `module:Class`. Its module must not import torch at import time, since the
    API process reads its `spec` too."""
    module_name, _, cls_name = name.partition(":")
    try:
        return getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"engine {name!r} cannot be imported: {err}") from None


def spec_for(name: str, settings: Settings) -> EngineSpec:
    """The engine's spec as this deployment runs it: the resolution preset, the steps of the quality
    setting, and whether sound is available. Plain data, like `get_spec`."""
    spec = get_spec(name)
    changes: dict[str, object] = {}
    if spec.presets:
        preset = settings.preset or next(iter(spec.presets))
        if preset not in spec.presets:
            raise ValueError(f"SHOTLINE_PRESET={preset!r} is not a preset of engine {name}; choose one of: "
                             f"{', '.join(spec.presets)}")
        changes["resolutions"] = dict(spec.presets[preset])
    if settings.quality == "draft" and spec.draft_steps:
        changes["default_steps"] = spec.draft_steps
    if not spec.native_audio and not settings.audio_model:
        changes["sound_available"] = False
    return replace(spec, **changes) if changes else spec


def create_engine(name: str, settings: Settings) -> Engine:
    """Instantiate (not load) the engine; this is where torch and diffusers get imported."""
    get_spec(name)
    if ":" in name:
        return _plugin(name)(settings)
    module_name, _, cls_name = _IMPLEMENTATIONS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RuntimeError(
            f"engine {name!r} needs the generation extras: pip install 'shotline[engines]' ({err})"
        ) from err
    return getattr(module, cls_name)(settings)
