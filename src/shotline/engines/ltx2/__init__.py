"""LTX-2.x: LTX-2 (19B), LTX-2.3 and LTX-2.5 (22B), joint video and audio, through diffusers' LTX2Pipeline.

`spec` and `versions` are plain Python (the API plans with them); `engine`, `recipe` and `tiny` import torch
and are loaded only by a worker.
"""

from __future__ import annotations

from typing import Any

from shotline.engines.ltx2.spec import LTX2 as SPEC
from shotline.engines.ltx2.spec import auto_recipe

ENGINE = "shotline.engines.ltx2.engine:LTX2Engine"
TINY = {"ltx2": "shotline.engines.ltx2.tiny:save_tiny_ltx2"}

__all__ = ["ENGINE", "SPEC", "TINY", "auto_recipe"]


def __getattr__(name: str) -> Any:  # `from shotline.engines.ltx2 import LTX2Engine` without importing torch early
    if name == "LTX2Engine":
        from shotline.engines.ltx2.engine import LTX2Engine

        return LTX2Engine
    raise AttributeError(name)
