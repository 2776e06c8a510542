"""mp4 with PyAV: H.264 (yuv420p) video and, when asked, one AAC track.

Two ways in. `Mp4Writer` streams frames (and audio) straight into one file. `concat_segments` joins
video-only shot segments made by `Mp4Writer` into the final file without re-encoding the picture (the
packets are copied with shifted timestamps) and encodes the joined audio alongside; this is what lets a
task keep each finished shot as a checkpoint. Audio is resampled to 48 kHz (an AAC frame is then 21 ms,
shorter than a video frame, so the track's length matches the picture to well within one frame) and
interleaved with the video by time.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

AUDIO_RATE = 48_000
AAC_FRAME = 1024
# faststart puts the index first so a browser can play while downloading; use_metadata_tags keeps our
# own keys (seed, engine) in the file.
MP4_OPTIONS = {"movflags": "+faststart+use_metadata_tags"}


class _AudioTrack:
    """Queued float32 [2, n] samples at `rate_in`, encoded to AAC as the video reaches them."""

    def __init__(self, container: Any, rate_in: int) -> None:
        self.container = container
        self.rate_in = int(rate_in)
        self.stream = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        self.stream.time_base = Fraction(1, AUDIO_RATE)
        self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE, frame_size=AAC_FRAME)
        self._pending: list[np.ndarray] = []
        self._fed = 0  # input samples handed to the resampler so far

    def queue(self, samples: np.ndarray) -> None:
        self._pending.append(np.ascontiguousarray(samples, dtype=np.float32))

    def encode_until(self, seconds: float | None) -> None:
        """Encode queued audio up to `seconds` of the track (None: all of it)."""
        limit = None if seconds is None else int(seconds * self.rate_in)
        while self._pending and (limit is None or self._fed < limit):
            chunk = self._pending[0]
            take = chunk.shape[1] if limit is None else min(chunk.shape[1], limit - self._fed)
            piece, rest = chunk[:, :take], chunk[:, take:]
            if rest.shape[1]:
                self._pending[0] = rest
            else:
                self._pending.pop(0)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="fltp", layout="stereo")
            frame.sample_rate = self.rate_in
            frame.pts = self._fed
            frame.time_base = Fraction(1, self.rate_in)
            self._fed += piece.shape[1]
            self._mux(self._resampler.resample(frame))

    def close(self) -> None:
        self.encode_until(None)
        self._mux(self._resampler.resample(None))
        self.container.mux(self.stream.encode(None))

    def _mux(self, frames: list[Any]) -> None:
        for f in frames:
            self.container.mux(self.stream.encode(f))


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
        self._out = av.open(str(self.path), mode="w", format="mp4", options=MP4_OPTIONS)
        for key, value in (metadata or {}).items():
            self._out.metadata[key] = value
        self._video = self._out.add_stream("libx264", rate=self.fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = 1 / self.fps
        self._video.options = {"crf": str(crf), "preset": preset}
        self._frames = 0
        self._audio = _AudioTrack(self._out, audio_rate) if audio_rate is not None else None

    @property
    def frames_written(self) -> int:
        return self._frames

    def write_audio(self, samples: np.ndarray) -> None:
        """Queue float32 [2, n] samples at the input rate; they are encoded as the video reaches them."""
        if self._audio is None:
            raise ValueError("this writer was opened without audio")
        self._audio.queue(samples)

    def write_frame(self, rgb: np.ndarray) -> None:
        """One uint8 [height, width, 3] RGB frame."""
        if rgb.shape != (self.height, self.width, 3):
            raise ValueError(f"frame is {rgb.shape}, expected {(self.height, self.width, 3)}")
        # The frame wraps the array's memory instead of copying it (from_ndarray copies): the only pass
        # over the pixels left is swscale's conversion to yuv420p, which the encoder needs anyway.
        frame = av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._frames
        self._out.mux(self._video.encode(frame))
        self._frames += 1
        if self._audio is not None:
            # Keep the audio a frame ahead of the picture so the muxer interleaves without buffering much.
            self._audio.encode_until(float((self._frames + 1) / self.fps))

    def close(self) -> None:
        self._out.mux(self._video.encode(None))
        if self._audio is not None:
            self._audio.close()
        self._out.close()

    def abort(self) -> None:
        try:
            self._out.close()
        except Exception:
            pass
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def concat_segments(
    segments: Sequence[str | Path],
    path: str | Path,
    *,
    audio: np.ndarray | None = None,
    audio_rate: int | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Join video-only segments (same size and codec settings, each starting on a keyframe, as
    `Mp4Writer` makes them) into one mp4 with hard cuts, plus `audio` (float32 [2, n]) as one AAC track."""
    path = Path(path)
    try:
        with av.open(str(path), mode="w", format="mp4", options=MP4_OPTIONS) as out:
            for key, value in (metadata or {}).items():
                out.metadata[key] = value
            with av.open(str(segments[0])) as first:
                video = out.add_stream_from_template(first.streams.video[0])
            track = None
            if audio is not None:
                assert audio_rate, "audio needs its sample rate"
                track = _AudioTrack(out, audio_rate)
                track.queue(audio)
            offset = Fraction(0)  # seconds of video already written
            for segment in segments:
                with av.open(str(segment)) as src:
                    stream = src.streams.video[0]
                    tb = stream.time_base
                    shift = int(offset / tb)
                    length = Fraction(0)
                    for packet in src.demux(stream):
                        if packet.dts is None:  # the demuxer's end-of-stream marker
                            continue
                        packet.pts += shift
                        packet.dts += shift
                        end = Fraction(packet.pts - shift + (packet.duration or 0)) * tb
                        length = max(length, end)
                        packet.stream = video
                        out.mux(packet)
                        if track is not None:
                            track.encode_until(float(offset + end) + 0.05)
                    offset += length
            if track is not None:
                track.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def describe(path: str | Path) -> dict:
    """Streams, codecs, sizes and durations of an mp4, for people and tests (decodes to count frames)."""
    info: dict = {"path": str(path), "bytes": Path(path).stat().st_size}
    with av.open(str(path)) as c:
        info["metadata"] = dict(c.metadata)
        info["streams"] = []
        for s in c.streams:
            d: dict[str, Any] = {"type": s.type, "codec": s.codec_context.name}
            if s.type == "video":
                d.update(width=s.codec_context.width, height=s.codec_context.height,
                         pix_fmt=s.codec_context.pix_fmt, fps=float(s.average_rate or 0))
            else:
                d.update(sample_rate=s.codec_context.sample_rate, channels=s.codec_context.channels)
            info["streams"].append(d)
    for index, d in enumerate(info["streams"]):
        with av.open(str(path)) as c:
            stream = c.streams[index]
            if d["type"] == "video":
                d["frames"] = sum(1 for _ in c.decode(stream))
                d["duration_s"] = d["frames"] / d["fps"] if d["fps"] else 0.0
            else:
                d["samples"] = sum(frame.samples for frame in c.decode(stream))
                d["duration_s"] = d["samples"] / d["sample_rate"]
    return info
