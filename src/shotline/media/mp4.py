"""Streaming mp4 writer: H.264 (yuv420p) video and, when asked, one AAC track.

Frames go to the encoder one at a time, so memory stays flat however long the video is. Audio is
resampled to 48 kHz (an AAC frame is then 21 ms, shorter than a video frame, so the track's length can
match the picture to well within one frame) and interleaved with the video as it is written.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

AUDIO_RATE = 48_000
AAC_FRAME = 1024


class Mp4Writer:
    def __init__(
        self,
        path: str | Path,
        *,
        width: int,
        height: int,
        fps: Fraction | int,
        audio_rate: int | None = None,
        metadata: dict[str, str] | None = None,
        crf: int = 23,
        preset: str = "veryfast",
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs even width and height, got {width}x{height}")
        self.path = Path(path)
        self.fps = Fraction(fps)
        self.width, self.height = width, height
        # faststart puts the index first so a browser can play while downloading; use_metadata_tags keeps
        # our own keys (seed, engine) in the file.
        self._out = av.open(str(self.path), mode="w", format="mp4",
                            options={"movflags": "+faststart+use_metadata_tags"})
        for key, value in (metadata or {}).items():
            self._out.metadata[key] = value
        self._video = self._out.add_stream("libx264", rate=self.fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = 1 / self.fps
        self._video.options = {"crf": str(crf), "preset": preset}
        self._frames = 0

        self._audio = None
        self._resampler = None
        self._pending_audio: list[np.ndarray] = []
        self._pending_samples = 0
        self._audio_in = 0  # input samples handed to the resampler so far
        if audio_rate is not None:
            self._audio_rate_in = int(audio_rate)
            self._audio = self._out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            self._audio.time_base = Fraction(1, AUDIO_RATE)
            self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE, frame_size=AAC_FRAME)

    @property
    def frames_written(self) -> int:
        return self._frames

    def write_audio(self, samples: np.ndarray) -> None:
        """Queue float32 [2, n] samples at the input rate; they are encoded as the video reaches them."""
        if self._audio is None:
            raise ValueError("this writer was opened without audio")
        self._pending_audio.append(np.ascontiguousarray(samples, dtype=np.float32))
        self._pending_samples += samples.shape[1]

    def write_frame(self, rgb: np.ndarray) -> None:
        """One uint8 [height, width, 3] RGB frame."""
        if rgb.shape != (self.height, self.width, 3):
            raise ValueError(f"frame is {rgb.shape}, expected {(self.height, self.width, 3)}")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self._frames
        self._out.mux(self._video.encode(frame))
        self._frames += 1
        if self._audio is not None:
            # Keep the audio a little ahead of the picture so the muxer can interleave without buffering much.
            self._flush_audio_until(int((self._frames + 1) / self.fps * self._audio_rate_in))

    def _flush_audio_until(self, sample: int | None) -> None:
        assert self._audio is not None and self._resampler is not None
        while self._pending_audio and (sample is None or self._audio_in < sample):
            chunk = self._pending_audio[0]
            take = chunk.shape[1] if sample is None else min(chunk.shape[1], sample - self._audio_in)
            piece, rest = chunk[:, :take], chunk[:, take:]
            if rest.shape[1]:
                self._pending_audio[0] = rest
            else:
                self._pending_audio.pop(0)
            self._encode_audio(piece)

    def _encode_audio(self, piece: np.ndarray | None) -> None:
        assert self._audio is not None and self._resampler is not None
        if piece is None:
            frames = self._resampler.resample(None)
        else:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="fltp", layout="stereo")
            frame.sample_rate = self._audio_rate_in
            frame.pts = self._audio_in
            frame.time_base = Fraction(1, self._audio_rate_in)
            self._audio_in += piece.shape[1]
            frames = self._resampler.resample(frame)
        for f in frames:
            self._out.mux(self._audio.encode(f))

    def close(self) -> None:
        self._out.mux(self._video.encode(None))
        if self._audio is not None:
            self._flush_audio_until(None)
            self._encode_audio(None)
            self._out.mux(self._audio.encode(None))
        self._out.close()

    def abort(self) -> None:
        try:
            self._out.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away anyway
            pass
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def describe(path: str | Path) -> dict:
    """Streams, codecs, sizes and durations of an mp4, for people and tests (decodes to count frames)."""
    info: dict = {"path": str(path), "bytes": Path(path).stat().st_size}
    with av.open(str(path)) as c:
        info["metadata"] = dict(c.metadata)
        info["streams"] = []
        for s in c.streams:
            d = {"type": s.type, "codec": s.codec_context.name}
            if s.type == "video":
                d.update(width=s.codec_context.width, height=s.codec_context.height,
                         pix_fmt=s.codec_context.pix_fmt, fps=float(s.average_rate or 0))
            else:
                d.update(sample_rate=s.codec_context.sample_rate, channels=s.codec_context.channels)
            info["streams"].append(d)
    for d, idx in zip(info["streams"], range(len(info["streams"])), strict=True):
        with av.open(str(path)) as c:
            stream = c.streams[idx]
            if d["type"] == "video":
                n, last = 0, None
                for frame in c.decode(stream):
                    n += 1
                    last = frame
                d["frames"] = n
                d["duration_s"] = n / d["fps"] if d["fps"] else 0.0
                del last
            else:
                samples, first_t = 0, None
                for frame in c.decode(stream):
                    if first_t is None and frame.time is not None:
                        first_t = frame.time
                    samples += frame.samples
                d["samples"] = samples
                d["duration_s"] = samples / d["sample_rate"]
                d["start_s"] = first_t or 0.0
    return info
