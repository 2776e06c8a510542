"""The `tiny` engine: LTX-2's real pipeline classes with tiny random weights built in code (no download), for
tests and first runs. `spec` is plain Python; `engine` imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shotline.engines.tiny.spec import TINY as SPEC
from shotline.engines.tiny.spec import auto_recipe

ENGINE = "shotline.engines.tiny.engine:TinyEngine"
TINY: dict[str, str] = {}

__all__ = ["ENGINE", "SPEC", "TINY", "auto_recipe", "save_tiny"]


def save_tiny(kind: str, directory: Path) -> Path:
    """Write tiny random weights of `kind` (ltx2, wan, stable-audio); see `registry.save_tiny`."""
    from shotline.engines.registry import save_tiny as save

    return save(kind, directory)


def __getattr__(name: str) -> Any:  # `from shotline.engines.tiny import TinyEngine` imports torch only then
    if name == "TinyEngine":
        from shotline.engines.tiny.engine import TinyEngine

        return TinyEngine
    raise AttributeError(name)
