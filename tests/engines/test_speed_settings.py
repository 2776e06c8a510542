"""Speed settings on the tiny engine: an explicit attention backend runs the same attention (the same
frames), and one this machine cannot run fails the load with a reason naming the setting. SHOTLINE_COMPILE
is not run here: a cold torch.compile takes tens of seconds on a CPU (bench/ and docs/performance.md)."""

from __future__ import annotations

import numpy as np
import pytest

from shotline.config import Settings
from shotline.engines.base import ModelLoadError, plan_generation
from shotline.protocol.kling import CreateTaskRequest

torch = pytest.importorskip("torch")


def frames(settings: Settings) -> np.ndarray:
    from shotline.engines.tiny import TinyEngine

    engine = TinyEngine(settings)
    engine.load()
    request = CreateTaskRequest.model_validate({"prompt": "a fox", "duration": 3}).normalized()
    plan = plan_generation(request, engine.spec, seed=7, steps=2)
    return np.stack(list(engine.generate_shot(plan, plan.shots[0], lambda _done: None).frames))


def test_native_backend_gives_the_same_video_as_the_default() -> None:
    default = frames(Settings(_env_file=None))
    native = frames(Settings(_env_file=None, attention_backend="native"))
    assert np.array_equal(default, native)


def test_a_backend_that_cannot_run_here_fails_the_load_with_a_reason() -> None:
    from shotline.engines.tiny import TinyEngine

    engine = TinyEngine(Settings(_env_file=None, attention_backend="_flash_3"))
    with pytest.raises(ModelLoadError, match="SHOTLINE_ATTENTION_BACKEND=_flash_3"):
        engine.load()
