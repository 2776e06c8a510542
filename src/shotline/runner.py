"""Rendering one task: shot by shot, each shot kept as a checkpoint, then joined into the final mp4.

Each finished shot becomes two checkpoint files in storage: its video as an H.264 segment, and the raw
audio the engine made for it (including the overhang past its end, for the crossfade). A task that is
requeued (crash, restart, shutdown) finds them and generates only the shots that are missing. Within one
run, a shot's audio stays in memory: its checkpoint is written for a later run, never read back. Checkpoint
names carry a fingerprint of everything that shapes the pixels (plan, engine and weights), so a change of
settings between runs never mixes shots from two configurations.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import numpy as np

from shotline.engines.base import Engine, GenerationPlan, ShotPlan
from shotline.errors import GenerationError
from shotline.faults import failpoint
from shotline.media.audio import AudioJoiner
from shotline.media.mp4 import Mp4Writer, concat_segments

log = logging.getLogger("shotline.worker")


class CheckpointStorage(Protocol):
    def put_checkpoint(self, task_id: str, name: str, src: Path) -> Path: ...
    def get_checkpoint(self, task_id: str, name: str, work_dir: Path) -> Path | None: ...
    def delete_checkpoints(self, task_id: str) -> None: ...


class ShotProgress(Protocol):
    def for_shot(self, shot: ShotPlan): ...
    def shot_encoded(self, shot: ShotPlan) -> None: ...
    def check_stop(self) -> None: ...


def fingerprint(plan: GenerationPlan, engine: Engine) -> str:
    text = json.dumps({"plan": asdict(plan), "engine": engine.describe()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render(
    engine: Engine,
    plan: GenerationPlan,
    progress: ShotProgress,
    storage: CheckpointStorage,
    task_id: str,
    work_dir: Path,
    out_path: Path,
    metadata: dict[str, str],
    timings: dict[str, float] | None = None,
) -> list[int]:
    """Make the task's mp4 at `out_path`; returns the indexes of the shots it generated (the rest came
    from checkpoints). Adds the seconds spent in the model and in encoding to `timings` ("generate_s",
    "encode_s")."""
    timings = timings if timings is not None else {}
    timings.setdefault("generate_s", 0.0)
    timings.setdefault("encode_s", 0.0)
    work_dir.mkdir(parents=True, exist_ok=True)
    prefix = fingerprint(plan, engine)
    segments: list[Path] = []
    audios: list[tuple[np.ndarray, int]] = []
    generated: list[int] = []
    for shot in plan.shots:
        video_name, audio_name = f"{prefix}-shot{shot.index}.mp4", f"{prefix}-shot{shot.index}.npz"
        video = storage.get_checkpoint(task_id, video_name, work_dir)
        sound = _load_audio(storage.get_checkpoint(task_id, audio_name, work_dir)) if plan.sound and video else None
        if video is None or (plan.sound and sound is None):
            video, sound = _generate_shot(engine, plan, shot, progress, storage, task_id, work_dir,
                                          video_name, audio_name, timings)
            generated.append(shot.index)
            log.info("task %s: shot %d of %d generated", task_id, shot.index + 1, len(plan.shots))
            failpoint(f"after_shot_{shot.index + 1}")  # fault tests: the worker dies with this shot checkpointed
        progress.shot_encoded(shot)
        segments.append(video)
        if plan.sound:
            assert sound is not None
            audios.append(sound)
        progress.check_stop()
    if len(generated) < len(plan.shots):
        log.info("task %s: resumed %d of %d shots from checkpoints", task_id,
                 len(plan.shots) - len(generated), len(plan.shots))

    audio, rate = None, None
    if plan.sound:
        rate = audios[0][1]
        joiner = AudioJoiner(rate)
        parts = []
        for shot, (samples, _) in zip(plan.shots, audios, strict=True):
            # Cumulative rounding: every shot starts at its exact frame's sample, so no drift builds up.
            start = round(shot.start_frame * rate / plan.fps)
            end = round((shot.start_frame + shot.frames) * rate / plan.fps)
            parts.append(joiner.add_shot(samples, end - start))
        audio = np.concatenate(parts, axis=1)
    t0 = time.perf_counter()
    concat_segments(segments, out_path, audio=audio, audio_rate=rate, metadata=metadata)
    timings["encode_s"] += time.perf_counter() - t0
    return generated


def _generate_shot(
    engine: Engine,
    plan: GenerationPlan,
    shot: ShotPlan,
    progress: ShotProgress,
    storage: CheckpointStorage,
    task_id: str,
    work_dir: Path,
    video_name: str,
    audio_name: str,
    timings: dict[str, float],
) -> tuple[Path, tuple[np.ndarray, int] | None]:
    """Generate one shot and checkpoint it; returns its video segment and (audio, sample rate) in memory."""
    t0 = time.perf_counter()
    out = engine.generate_shot(plan, shot, progress.for_shot(shot))
    t1 = time.perf_counter()
    timings["generate_s"] += t1 - t0
    if len(out.frames) != shot.frames:
        raise GenerationError(f"the engine returned {len(out.frames)} frames for a shot of {shot.frames}; "
                              "this is a bug in the engine, please report it")
    part = work_dir / f"{task_id}.{video_name}.part"
    try:
        with Mp4Writer(part, width=plan.width, height=plan.height, fps=plan.fps) as writer:
            for frame in out.frames:
                writer.write_frame(frame)
    except BaseException:
        part.unlink(missing_ok=True)  # a half-written segment (disk full, stop) must not take space or be reused
        raise
    timings["encode_s"] += time.perf_counter() - t1
    sound = None
    if plan.sound:
        if out.audio is None or not out.sample_rate:
            raise GenerationError("the engine returned no sound although sound was asked for")
        sound = (np.asarray(out.audio, dtype=np.float32), int(out.sample_rate))
        audio_part = work_dir / f"{task_id}.{audio_name}.part"
        with audio_part.open("wb") as f:
            np.savez(f, audio=sound[0], sample_rate=sound[1])
        storage.put_checkpoint(task_id, audio_name, audio_part)
    # The video goes last: a shot counts as done only once both of its files are in place.
    return storage.put_checkpoint(task_id, video_name, part), sound


def _load_audio(path: Path | None) -> tuple[np.ndarray, int] | None:
    """A shot's audio checkpoint from an earlier run, or None."""
    if path is None:
        return None
    with np.load(path) as data:
        return data["audio"], int(data["sample_rate"])
