"""Joining per-shot audio into one continuous track.

Each shot's audio starts at the shot's first frame and must last exactly as long as the shot's frames,
so picture and sound stay in sync across cuts. Engines generate a little past the end of a shot; that
overhang is crossfaded into the next shot's first samples (starting at the cut, so nothing shifts).
Where an engine gave no overhang, the shot fades out over a few milliseconds instead: either way the
waveform has no step at the cut, which is what a click is.
"""

from __future__ import annotations

import numpy as np

CHANNELS = 2


def as_stereo(audio: np.ndarray) -> np.ndarray:
    """[channels, samples] float32 with exactly two channels."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    if a.shape[0] == 1:
        a = np.repeat(a, CHANNELS, axis=0)
    elif a.shape[0] > CHANNELS:
        a = a[:CHANNELS]
    return np.ascontiguousarray(a)


def _ramp(n: int, rising: bool) -> np.ndarray:
    # Equal-power curve: the loudness stays level through a crossfade of two uncorrelated signals.
    t = (np.arange(n, dtype=np.float32) + 0.5) / max(n, 1)
    curve = np.sin(t * np.pi / 2) if rising else np.cos(t * np.pi / 2)
    return curve.astype(np.float32)


class AudioJoiner:
    """Feed shots in order with `add_shot`; each call returns that shot's final samples."""

    def __init__(self, sample_rate: int, crossfade_s: float = 0.02, fade_s: float = 0.005) -> None:
        self.sample_rate = sample_rate
        self.crossfade = max(1, int(round(crossfade_s * sample_rate)))
        self.fade = max(1, int(round(fade_s * sample_rate)))
        self._tail: np.ndarray | None = None  # overhang of the previous shot
        self._previous_faded_out = False

    def add_shot(self, audio: np.ndarray, length: int) -> np.ndarray:
        """`audio` is what the engine made for a shot of `length` samples (it may be longer or shorter)."""
        a = as_stereo(audio)
        body = np.zeros((CHANNELS, length), dtype=np.float32)
        have = min(length, a.shape[1])
        body[:, :have] = a[:, :have]
        if have < length:
            # Short by a few ms (LTX-2 sizes its audio slightly short): fade out, then silence.
            n = min(self.fade, have)
            if n:
                body[:, have - n : have] *= _ramp(n, rising=False)
        tail = a[:, length : length + self.crossfade]

        if self._tail is not None and self._tail.shape[1] > 0:
            n = min(self._tail.shape[1], length)
            body[:, :n] = self._tail[:, :n] * _ramp(n, rising=False) + body[:, :n] * _ramp(n, rising=True)
        elif self._previous_faded_out:
            n = min(self.fade, length)
            body[:, :n] *= _ramp(n, rising=True)

        # Prepare the next cut: with too little overhang for a crossfade, fade this shot out instead.
        if tail.shape[1] >= min(self.crossfade, 8):
            self._tail, self._previous_faded_out = tail.copy(), False
        else:
            n = min(self.fade, length)
            body[:, length - n :] *= _ramp(n, rising=False)
            self._tail, self._previous_faded_out = None, True
        return body
