"""Joining per-shot audio: exact lengths (sync), and no step in the waveform at a cut (no click)."""

from __future__ import annotations

import numpy as np
import pytest

from shotline.media.audio import AudioJoiner, as_stereo

SR = 16000


def max_step(track: np.ndarray) -> float:
    return float(np.abs(np.diff(track, axis=1)).max())


@pytest.mark.parametrize("overhang", [0, 40, 320, 2000], ids=["none", "short", "crossfade", "long"])
def test_cuts_have_no_click_and_lengths_are_exact(overhang: int) -> None:
    joiner = AudioJoiner(SR)
    lengths = [SR, SR // 2 + 7, SR]
    levels = [0.5, -0.5, 0.4]
    parts = [joiner.add_shot(np.full((2, n + overhang), level, np.float32), n) for n, level in zip(lengths, levels)]
    assert [p.shape for p in parts] == [(2, n) for n in lengths]
    track = np.concatenate(parts, axis=1)
    naive = np.concatenate([np.full((2, n), lv, np.float32) for n, lv in zip(lengths, levels)], axis=1)
    assert max_step(naive) == pytest.approx(1.0)
    assert max_step(track) < 0.05  # a smooth ramp instead of a jump of 1.0
    # Away from the cuts the shots are untouched.
    assert np.allclose(track[:, SR // 2], 0.5) and np.allclose(track[:, SR + SR // 4], -0.5)


def test_short_audio_is_padded_to_the_shot_without_a_click() -> None:
    joiner = AudioJoiner(SR)
    out = joiner.add_shot(np.full((2, SR - 300), 0.8, np.float32), SR)
    assert out.shape == (2, SR) and np.all(out[:, -300:] == 0)
    assert max_step(out) < 0.05


def test_crossfade_uses_the_overhang() -> None:
    joiner = AudioJoiner(SR, crossfade_s=0.02)
    first = np.zeros((2, SR + 320), np.float32)
    first[:, SR:] = 1.0  # what the first shot would have continued with after the cut
    joiner.add_shot(first, SR)
    second = joiner.add_shot(np.zeros((2, SR), np.float32), SR)
    assert second[:, 0].mean() > 0.9 and abs(second[:, 319].mean()) < 0.1 and np.all(second[:, 320:] == 0)


def test_mono_and_extra_channels_become_stereo() -> None:
    assert as_stereo(np.zeros(10)).shape == (2, 10)
    assert as_stereo(np.zeros((1, 10))).shape == (2, 10)
    assert as_stereo(np.zeros((6, 10))).shape == (2, 10)
