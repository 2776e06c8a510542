"""Wan 2.1 / 2.2 text-to-video through diffusers' WanPipeline, with sound from a text-to-audio model.

`spec` is plain Python (the API plans with it); `engine` and `tiny` import torch."""

from __future__ import annotations

from typing import Any

from shotline.engines.wan.spec import WAN as SPEC
from shotline.engines.wan.spec import auto_recipe, default_preset

ENGINE = "shotline.engines.wan.engine:WanEngine"
TINY = {"wan": "shotline.engines.wan.tiny:save_tiny_wan",
        "stable-audio": "shotline.engines.wan.tiny:save_tiny_stable_audio"}

__all__ = ["ENGINE", "SPEC", "TINY", "auto_recipe", "default_preset"]


def __getattr__(name: str) -> Any:
    if name == "WanEngine":
        from shotline.engines.wan.engine import WanEngine

        return WanEngine
    raise AttributeError(name)
