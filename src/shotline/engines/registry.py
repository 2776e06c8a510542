"""Engines by name. Specs are plain data; implementations are imported only when a worker loads one."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from shotline.engines.specs import SPECS

if TYPE_CHECKING:
    from shotline.config import Settings
    from shotline.engines.base import Engine, EngineSpec

_IMPLEMENTATIONS = {
    "tiny": "shotline.engines.tiny:TinyEngine",
}


def names() -> list[str]:
    return sorted(SPECS)


def get_spec(name: str) -> EngineSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; choose one of: {', '.join(names())}") from None


def create_engine(name: str, settings: Settings) -> Engine:
    """Instantiate (not load) the engine; this is where torch and diffusers get imported."""
    get_spec(name)
    module_name, _, cls_name = _IMPLEMENTATIONS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RuntimeError(
            f"engine {name!r} needs the generation extras: pip install 'shotline[engines]' ({err})"
        ) from err
    return getattr(module, cls_name)(settings)
