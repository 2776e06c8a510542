"""Encoding: Shotline's mp4 writer against the `ffmpeg` command line on the same raw frames and audio with the
same settings (libx264 veryfast crf 23 yuv420p, AAC 48 kHz stereo, +faststart).

- time: `Mp4Writer` (picture and sound in one pass), and the path a task takes in `runner.render` (a
  video-only segment per shot, then `concat_segments` copying the picture and encoding the joined audio),
  each against `ffmpeg` reading the frames from a pipe. Median of N, interleaved. Target: ratio <= 1.0.
- memory: peak RSS of a whole 1280x720 + audio encode in a fresh process per duration (5, 10, 15 s), frames
  made on the fly as an engine hands them over; ffmpeg's own peak for the same encode beside it. Targets:
  < 1500 MB, and flat (the longest within 10 % of the shortest).

    python -m bench encode
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    ROOT,
    PeakWatcher,
    child_env,
    cpu_seconds,
    figure,
    interleaved,
    median,
    not_run,
    peak_rss_mb,
    quick,
)

FPS = 24
AUDIO_RATE = 24_000  # what LTX-2's vocoder makes; both sides resample it to 48 kHz
CODEC = ("libx264 veryfast crf 23 yuv420p + AAC 48 kHz stereo, +faststart")


def sizes() -> dict[str, Any]:
    if quick():
        return {"width": 256, "height": 144, "seconds": 1.0, "repeat": 1, "rss_seconds": (1, 2)}
    return {"width": 1280, "height": 720, "seconds": 5.0, "repeat": 3, "rss_seconds": (5, 10, 15)}


class SyntheticClip:
    """Frames that cost an encoder about what a generated video does: a textured scene that pans back and
    forth (motion search finds it) under a fresh film grain each frame (it does not compress away), and a
    tone with noise for sound. Each frame is made when it is asked for, in a couple of milliseconds."""

    PAN = 96  # pixels the camera travels before it turns back

    def __init__(self, width: int, height: int, seconds: float) -> None:
        self.width, self.height = width, height
        self.frames_total = round(seconds * FPS)
        rng = np.random.default_rng(7)
        blocks = rng.integers(0, 160, (height // 8 + 1, (width + self.PAN) // 8 + 1, 3), dtype=np.uint8)
        texture = blocks.repeat(8, axis=0).repeat(8, axis=1)[:height, : width + self.PAN]
        ramp = (np.arange(width + self.PAN)[None, :, None] // 8 + np.arange(height)[:, None, None] // 6) % 96
        self._scene = (texture + ramp.astype(np.uint8)).astype(np.uint8)
        self._grain = rng.integers(0, 6, (7, height, width, 3), dtype=np.uint8)  # 7: no short repeat
        t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
        tone = 0.2 * np.sin(2 * np.pi * (220 + 40 * t) * t) + 0.02 * rng.standard_normal(t.size)
        self.audio = np.stack([tone, np.roll(tone, 37)]).astype(np.float32)

    def frame(self, i: int) -> np.ndarray:
        step = i % (self.PAN // 2 * 2)
        x = 2 * (step if step < self.PAN // 2 else self.PAN - step)
        return self._scene[:, x : x + self.width] + self._grain[i % len(self._grain)]

    def frames(self) -> Iterator[np.ndarray]:
        return (self.frame(i) for i in range(self.frames_total))


# -------------------------------------------------------------------------------------------- the encoders


def write_mp4(clip: SyntheticClip, frames: Iterable[np.ndarray], out: Path) -> None:
    """Mp4Writer: picture and sound in one pass, as `shotline.media` streams them."""
    from shotline.media.mp4 import Mp4Writer

    with Mp4Writer(out, width=clip.width, height=clip.height, fps=FPS, audio_rate=AUDIO_RATE) as writer:
        writer.write_audio(clip.audio)
        for frame in frames:
            writer.write_frame(frame)


def write_segments(clip: SyntheticClip, frames: Iterable[np.ndarray], out: Path) -> None:
    """What `runner.render` does for a one-shot task: the shot's video-only segment, then the final file."""
    from shotline.media.mp4 import Mp4Writer, concat_segments

    segment = out.with_suffix(".segment.mp4")
    with Mp4Writer(segment, width=clip.width, height=clip.height, fps=FPS) as writer:
        for frame in frames:
            writer.write_frame(frame)
    concat_segments([segment], out, audio=clip.audio, audio_rate=AUDIO_RATE)
    segment.unlink()


def ffmpeg_exe() -> str | None:
    """Debian's `ffmpeg` if installed, else the static build inside the imageio-ffmpeg wheel (`bench` extra)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def ffmpeg_version(exe: str) -> str:
    words = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False).stdout.split()
    return f"ffmpeg {words[2]}" if len(words) > 2 else "ffmpeg"  # "ffmpeg version n9.0.2 Copyright …"


def write_ffmpeg(exe: str, clip: SyntheticClip, frames: Iterable[np.ndarray], out: Path, watch: bool = False) -> float:
    """The same encode by the command line: raw RGB frames on stdin, the raw audio from a file beside it.
    With `watch`, returns ffmpeg's peak RSS in MiB (else 0)."""
    audio = out.with_suffix(".f32")
    clip.audio.T.tofile(audio)  # interleaved float32, as -f f32le reads it
    command = [
        exe, "-nostdin", "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{clip.width}x{clip.height}", "-r", str(FPS), "-i", "pipe:0",
        "-f", "f32le", "-ar", str(AUDIO_RATE), "-ac", "2", "-i", str(audio),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-ar", "48000", "-ac", "2", "-movflags", "+faststart", str(out),
    ]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    watcher = PeakWatcher(proc.pid) if watch else None
    try:
        for frame in frames:
            proc.stdin.write(memoryview(frame))  # contiguous: no copy on our side
    finally:
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg exited with {proc.returncode}")
    audio.unlink()
    return watcher.stop() if watcher else 0.0


# ---------------------------------------------------------------------------------------------- figures


def time_figures(exe: str, size: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    clip = SyntheticClip(size["width"], size["height"], size["seconds"])
    # Made before the clock starts, so the encoders are timed and not the frame source (the memory test
    # below streams them instead).
    frames = list(clip.frames())
    cpu: dict[str, list[float]] = {}

    def timed(name: str, encode: Any) -> Any:
        def run() -> None:
            before = _cpu_with_children()
            encode(clip, frames, tmp / f"{name}.mp4")
            cpu.setdefault(name, []).append(_cpu_with_children() - before)
        return run

    warm = SyntheticClip(64, 64, 0.5)
    for encode in (write_mp4, write_segments, lambda c, f, o: write_ffmpeg(exe, c, f, o)):
        encode(warm, list(warm.frames()), tmp / "warm.mp4")
    times = interleaved({
        "ffmpeg": timed("ffmpeg", lambda c, f, o: write_ffmpeg(exe, c, f, o)),
        "writer": timed("writer", write_mp4),
        "segments": timed("segments", write_segments),
    }, repeat=size["repeat"], warmup=0)
    base = median(times["ffmpeg"])
    common = {
        "baseline": f"{ffmpeg_version(exe)} command line, raw frames on a pipe",
        "baseline_value": base, "target": "ratio <= 1.0", "codec": CODEC,
        "size": f"{clip.width}x{clip.height}", "frames": clip.frames_total, "fps": FPS, "n": size["repeat"],
        "baseline_cpu_s": round(median(cpu["ffmpeg"]), 3), "baseline_bytes": (tmp / "ffmpeg.mp4").stat().st_size,
    }
    seconds = f"{size['seconds']:g}s"
    return [
        figure(f"encode_mp4writer_{seconds}_vs_ffmpeg", median(times["writer"]), "s", **common,
               cpu_s=round(median(cpu["writer"]), 3), bytes=(tmp / "writer.mp4").stat().st_size),
        figure(f"encode_segment_concat_{seconds}_vs_ffmpeg", median(times["segments"]), "s", **common,
               cpu_s=round(median(cpu["segments"]), 3), bytes=(tmp / "segments.mp4").stat().st_size,
               path="runner.render: Mp4Writer segment, then concat_segments with the audio"),
    ]


def _cpu_with_children() -> float:
    """This process and its finished children (ffmpeg), so both sides count every thread they used."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (cpu_seconds() or 0.0) + children.ru_utime + children.ru_stime


def rss_figures(exe: str | None, size: dict[str, Any]) -> list[dict[str, Any]]:
    width, height = size["width"], size["height"]
    peaks: dict[int, dict[str, Any]] = {}
    for seconds in size["rss_seconds"]:
        peaks[seconds] = {"writer": _rss_child("writer", width, height, seconds)}
        if exe:
            peaks[seconds]["ffmpeg"] = _rss_child("ffmpeg", width, height, seconds)
    baseline = f"{ffmpeg_version(exe)} process, same encode" if exe else None
    lines = [
        figure(f"encode_peak_rss_{s}s_{width}x{height}", p["writer"]["peak_rss_mb"], "MB", baseline=baseline,
               baseline_value=p.get("ffmpeg", {}).get("peak_rss_mb"), target="< 1500 MB",
               frames=p["writer"]["frames"], sound=True, path="Mp4Writer, frames made one at a time",
               note="the whole Python process (interpreter, numpy, PyAV) against the ffmpeg process alone")
        for s, p in peaks.items()
    ]
    shortest, longest = min(peaks), max(peaks)
    lines.append(figure(
        f"encode_peak_rss_growth_{longest}s_vs_{shortest}s", peaks[longest]["writer"]["peak_rss_mb"], "MB",
        baseline=f"the same encode, {shortest} s", baseline_value=peaks[shortest]["writer"]["peak_rss_mb"],
        target="ratio <= 1.1", size=f"{width}x{height}",
    ))
    return lines


def _rss_child(kind: str, width: int, height: int, seconds: int) -> dict[str, Any]:
    """Peak RSS of one encode in a fresh process: a process's peak never goes down, so each size needs its own."""
    out = subprocess.run([sys.executable, "-m", "bench.encode", "--rss", kind, str(width), str(height), str(seconds)],
                         capture_output=True, text=True, check=True, timeout=600, cwd=ROOT, env=child_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_main(kind: str, width: int, height: int, seconds: int) -> None:
    clip = SyntheticClip(width, height, seconds)
    with tempfile.TemporaryDirectory(prefix="shotline-bench-") as tmp:
        out = Path(tmp) / "out.mp4"
        if kind == "writer":
            write_mp4(clip, clip.frames(), out)
            peak = peak_rss_mb()
        else:
            exe = ffmpeg_exe()
            assert exe, "no ffmpeg"
            peak = write_ffmpeg(exe, clip, clip.frames(), out, watch=True)
    print(json.dumps({"peak_rss_mb": round(peak, 1), "frames": clip.frames_total}))


def run() -> list[dict[str, Any]]:
    size = sizes()
    exe = ffmpeg_exe()
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="shotline-bench-") as tmp:
        if exe:
            lines += time_figures(exe, size, Path(tmp))
        else:
            why = "no ffmpeg to compare with: pip install -e '.[bench]' (imageio-ffmpeg) or apt-get install ffmpeg"
            lines += [not_run("encode_mp4writer_vs_ffmpeg", why), not_run("encode_segment_concat_vs_ffmpeg", why)]
    lines += rss_figures(exe, size)
    return lines


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        _rss_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        for line in run():
            print(json.dumps(line))
