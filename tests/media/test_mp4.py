"""The streaming mp4 writer, checked by decoding with PyAV: streams, codecs, frame count, durations,
metadata."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from shotline.media.mp4 import Mp4Writer, describe


def write(path, frames: int, fps, audio_rate: int | None = None, size=(96, 64)):
    w, h = size
    rng = np.random.default_rng(0)
    with Mp4Writer(path, width=w, height=h, fps=fps, audio_rate=audio_rate,
                   metadata={"comment": "test", "shotline_seed": "7"}) as writer:
        if audio_rate:
            writer.write_audio(rng.uniform(-0.3, 0.3, (2, int(frames / fps * audio_rate))).astype(np.float32))
        for i in range(frames):
            writer.write_frame(np.full((h, w, 3), i % 256, np.uint8))
    return describe(path)


@pytest.mark.parametrize("audio_rate", [16000, 24000, 44100, 48000])
def test_video_and_audio_lengths_match(tmp_path, audio_rate: int) -> None:
    info = write(tmp_path / "a.mp4", 120, 24, audio_rate)
    video, audio = info["streams"]
    assert video["codec"] == "h264" and video["pix_fmt"] == "yuv420p" and video["frames"] == 120
    assert audio["codec"] == "aac" and audio["channels"] == 2
    assert abs(audio["duration_s"] - video["duration_s"]) < 1 / 24
    assert info["metadata"]["shotline_seed"] == "7" and info["metadata"]["comment"] == "test"


def test_video_only(tmp_path) -> None:
    info = write(tmp_path / "v.mp4", 73, 24)
    assert [s["type"] for s in info["streams"]] == ["video"]
    assert info["streams"][0]["frames"] == 73


def test_fractional_rate_is_kept_exactly(tmp_path) -> None:
    info = write(tmp_path / "ntsc.mp4", 48, Fraction(24000, 1001))
    assert info["streams"][0]["fps"] == pytest.approx(24000 / 1001)


def test_failure_leaves_no_file(tmp_path) -> None:
    path = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError):
        with Mp4Writer(path, width=64, height=64, fps=24) as writer:
            writer.write_frame(np.zeros((64, 64, 3), np.uint8))
            raise RuntimeError("engine died")
    assert not path.exists()


def test_odd_size_and_wrong_frame_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="even"):
        Mp4Writer(tmp_path / "odd.mp4", width=65, height=64, fps=24)
    with Mp4Writer(tmp_path / "ok.mp4", width=64, height=64, fps=24) as writer:
        with pytest.raises(ValueError, match="expected"):
            writer.write_frame(np.zeros((32, 32, 3), np.uint8))
        writer.write_frame(np.zeros((64, 64, 3), np.uint8))
