"""Tiny random-weight pipelines of the real diffusers classes, written to disk by `shotline models tiny` (the
command users run) and loaded back through the engines' real loading code, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shotline.config import Settings

# Nothing here may reach a model hub; the engines pass local_files_only too.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The settings every real-engine test shares: small frames, two steps (the scheduler needs two).
FAST = {"preset": "test", "steps": 2, "audio_steps": 2}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch  # noqa: F401 - the engines extra is part of the test install; missing it must fail
    from typer.testing import CliRunner

    from shotline.cli import app

    root = tmp_path_factory.mktemp("weights")
    out = {}
    for kind in ("ltx2", "wan", "stable-audio"):
        result = CliRunner().invoke(app, ["models", "tiny", kind, str(root / kind)])
        assert result.exit_code == 0, result.output
        out[kind] = root / kind
    return out


def engine_settings(tiny_models: dict[str, Path], engine: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"engine": engine, "model": str(tiny_models[engine]), **FAST}
    if engine == "wan":
        values["audio_model"] = str(tiny_models["stable-audio"])
    values.update(overrides)
    return Settings(_env_file=None, **values)


def server_env(tiny_models: dict[str, Path], engine: str, **extra: str) -> dict[str, str]:
    env = {"SHOTLINE_ENGINE": engine, "SHOTLINE_MODEL": str(tiny_models[engine]), "HF_HUB_OFFLINE": "1",
           **{f"SHOTLINE_{k.upper()}": str(v) for k, v in FAST.items()}}
    if engine == "wan":
        env["SHOTLINE_AUDIO_MODEL"] = str(tiny_models["stable-audio"])
    env.update(extra)
    return env
