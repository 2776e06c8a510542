"""The ltx2 and wan engines on tiny random weights saved to disk and loaded back through their real loading
code (`from_pretrained`, offline): shots, sound, memory options, cancel, and loading failures that name the path."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from shotline.engines.base import GenerationPlan, ModelLoadError, ShotPlan, plan_generation
from shotline.engines.registry import create_engine
from shotline.errors import GenerationStopped
from shotline.protocol.kling import CreateTaskRequest
from tests.engines.conftest import engine_settings


@pytest.fixture(scope="module")
def engines(tiny_models):
    out = {}
    for name in ("ltx2", "wan"):
        engine = create_engine(name, engine_settings(tiny_models, name))
        engine.load()
        out[name] = engine
    return out


def make_plan(engine, **body):
    return plan_generation(CreateTaskRequest.model_validate(body).normalized(), engine.spec, seed=5, steps=2)


def short(plan):
    """The plan with one shot of a third of a second: for tests of options, not of lengths."""
    shot = ShotPlan(0, plan.shots[0].prompt, 8, 9, plan.seed, 0)
    return GenerationPlan(**{**plan.__dict__, "shots": (shot,), "total_frames": 8})


def frames(engine, plan, shot=None) -> np.ndarray:
    return np.stack(list(engine.generate_shot(plan, shot or plan.shots[0], lambda _d: None).frames))


@pytest.mark.parametrize("name", ["ltx2", "wan"])
def test_a_shot_has_exact_frames_size_and_sound(engines, name: str) -> None:
    engine = engines[name]
    plan = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="9:16", sound=True)
    steps: list[int] = []
    out = engine.generate_shot(plan, plan.shots[0], steps.append)
    assert steps[:2] == [1, 2]  # the video's steps; wan's sound then only checks for cancel
    assert len(out.frames) == 3 * engine.spec.fps
    assert out.frames[0].shape == (256, 128, 3) and out.frames[0].dtype == np.uint8
    assert out.audio is not None and out.audio.dtype == np.float32 and out.audio.shape[0] == 2
    # From the shot's start to (about) the end of the clip the model made, which runs past the cut.
    seconds = out.audio.shape[1] / out.sample_rate
    assert 3.0 - 0.05 < seconds < plan.shots[0].generation_frames / plan.fps + 0.01
    assert engine.describe()["engine"] == name and engine.describe()["model"] == name  # a name, not a path


@pytest.mark.parametrize("name", ["ltx2", "wan"])
def test_no_sound_means_no_audio_and_a_seed_repeats(engines, name: str) -> None:
    engine = engines[name]
    plan = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1", negative_prompt="blur")
    out = engine.generate_shot(plan, plan.shots[0], lambda _d: None)
    assert out.audio is None
    assert np.array_equal(np.stack(list(out.frames)), frames(engine, plan))


def test_negative_prompt_reaches_wans_sound(engines) -> None:
    engine = engines["wan"]
    a = make_plan(engine, prompt="rain", duration=3, aspect_ratio="1:1", sound=True)
    b = make_plan(engine, prompt="rain", duration=3, aspect_ratio="1:1", sound=True, negative_prompt="thunder")
    sound_a = engine.generate_shot(a, a.shots[0], lambda _d: None).audio
    sound_b = engine.generate_shot(b, b.shots[0], lambda _d: None).audio
    assert not np.array_equal(sound_a, sound_b)


@pytest.mark.parametrize(("name", "stop_at"), [("ltx2", 1), ("wan", 2)])
def test_cancel_at_step_k_runs_no_further_step(engines, name: str, stop_at: int) -> None:
    engine = engines[name]
    plan = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1")
    plan = type(plan)(**{**plan.__dict__, "steps": 4})
    seen: list[int] = []

    def on_step(done: int) -> None:
        seen.append(done)
        if done == stop_at:
            raise GenerationStopped("canceled")

    with pytest.raises(GenerationStopped):
        engine.generate_shot(plan, plan.shots[0], on_step)
    assert seen == list(range(1, stop_at + 1))


def test_cancel_during_wans_sound_stops_it(engines) -> None:
    engine = engines["wan"]
    plan = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1", sound=True)
    calls: list[int] = []

    def on_step(done: int) -> None:
        calls.append(done)
        if len(calls) == plan.steps + 1:  # the first step of the sound
            raise GenerationStopped("canceled")

    with pytest.raises(GenerationStopped):
        engine.generate_shot(plan, plan.shots[0], on_step)
    assert calls == [1, 2, 2]


@pytest.mark.parametrize("options", [{"offload": "model"}, {"offload": "group"}, {"offload": "text-encoder"},
                                     {"vae_tiling": True}], ids=lambda o: "-".join(map(str, o.values())))
def test_memory_options_keep_the_picture(tiny_models, engines, options: dict) -> None:
    engine = create_engine("ltx2", engine_settings(tiny_models, "ltx2", **options))
    engine.load()
    plan = short(make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1"))
    # Offloading copies the weights, and a copy's memory alignment changes CPU rounding by ~1e-6.
    difference = np.abs(frames(engine, plan).astype(int) - frames(engines["ltx2"], plan))
    assert difference.max() <= 1, difference.max()


@pytest.mark.parametrize(("name", "kind"), [("ltx2", "int8"), ("wan", "fp8")])
def test_quantized_transformer_loads_and_runs(tiny_models, name: str, kind: str) -> None:
    import torchao  # noqa: F401 - the quant extra is part of the test install
    engine = create_engine(name, engine_settings(tiny_models, name, quantize=kind, dtype="bf16"))
    engine.load()
    assert any("torchao" in type(p).__module__ for p in engine.pipeline.transformer.parameters())
    out = frames(engine, short(make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1")))
    assert out.shape == (8, 128, 128, 3)


@pytest.mark.parametrize("kind", ["first-block", "pyramid"])
def test_wan_step_cache_runs(tiny_models, kind: str) -> None:
    engine = create_engine("wan", engine_settings(tiny_models, "wan", step_cache=kind, audio_model=""))
    engine.load()
    plan = short(make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1"))
    assert np.array_equal(frames(engine, plan), frames(engine, plan))  # its state resets between calls


def load_error(settings) -> str:
    engine = create_engine(settings.engine, settings)
    with pytest.raises(ModelLoadError) as e:
        engine.load()
    return str(e.value)


def test_loading_failures_name_the_path_and_the_fix(tiny_models, tmp_path: Path, monkeypatch) -> None:
    assert "set SHOTLINE_MODEL" in load_error(engine_settings(tiny_models, "ltx2", model=""))
    missing = tmp_path / "nowhere"
    assert f"SHOTLINE_MODEL={missing}: no such weights directory" in load_error(
        engine_settings(tiny_models, "ltx2", model=str(missing)))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    message = load_error(engine_settings(tiny_models, "wan", model="Wan-AI/Wan2.1-T2V-1.3B-Diffusers"))
    assert "not in the Hugging Face cache" in message
    assert "huggingface-cli download Wan-AI/Wan2.1-T2V-1.3B-Diffusers" in message
    assert "holds a WanPipeline, but this engine runs a LTX2Pipeline" in load_error(
        engine_settings(tiny_models, "ltx2", model=str(tiny_models["wan"])))

    broken = tmp_path / "wan"
    shutil.copytree(tiny_models["wan"], broken)
    weights = broken / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # an interrupted download
    message = load_error(engine_settings(tiny_models, "wan", model=str(broken)))
    assert f"weights file {weights} is damaged" in message and "download it again" in message
    weights.unlink()
    message = load_error(engine_settings(tiny_models, "wan", model=str(broken)))
    assert f"from {broken}" in message and "download them again" in message


def test_a_model_in_the_hugging_face_cache_loads_by_repo_id(tiny_models, tmp_path: Path, monkeypatch) -> None:
    # The cache's layout: models--org--name/snapshots/<commit>/…, with refs/main naming the commit.
    repo = tmp_path / "hub" / "models--tiny--ltx2"
    commit = "0" * 40
    shutil.copytree(tiny_models["ltx2"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    engine = create_engine("ltx2", engine_settings(tiny_models, "ltx2", model="tiny/ltx2"))
    engine.load()
    assert engine.describe()["model"] == "tiny/ltx2"
    plan = make_plan(engine, prompt="a fox", duration=3, aspect_ratio="1:1")
    assert len(engine.generate_shot(plan, plan.shots[0], lambda _d: None).frames) == 72


def test_models_tiny_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shotline.cli import app

    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(app, ["models", "tiny", "wan", str(tmp_path)])
    assert result.exit_code == 2 and "is not an empty directory" in result.output
    result = CliRunner().invoke(app, ["models", "tiny", "sora", str(tmp_path / "new")])
    assert result.exit_code == 2 and "choose one of: ltx2, wan, stable-audio" in result.output
