"""The OpenAI video API (`/v1/videos`) over the same task service as the Kling API.

A video is a task: the same id, the same row, the same queue. A create goes through the Kling request and
`Service.create`, so
validation, the engine's input checks, quotas and Idempotency-Key behave exactly as on the Kling route; the
OpenAI fields the Kling request has no place for (`model`, `size`, `seconds`) are kept in the task's
`meta_json` and echoed back. Tasks created through the Kling API show up here too, described with a
canonical size for their aspect ratio. Plain synchronous code: the routes run it in the thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shotline.api.kling.serving import KlingServing
from shotline.db import TaskRecord
from shotline.errors import Conflict, InvalidRequest, NotFound
from shotline.protocol.openai import (
    CANONICAL_MODEL,
    CANONICAL_SIZES,
    Video,
    VideoCreateRequest,
    VideoDeleted,
    VideoError,
    VideoList,
)
from shotline.service import Service
from shotline.status import TaskStatus
from shotline.validation import invalid_request

LIST_LIMIT_MAX = 100


@dataclass
class OpenAIVideos:
    service: Service

    # ------------------------------------------------------------------------------------------ create

    def create(self, owner: str, fields: dict[str, Any], idempotency_key: str | None = None) -> Video:
        try:
            request = VideoCreateRequest.model_validate(fields)
        except ValidationError as err:
            raise invalid_request(err.errors(), VideoCreateRequest) from None
        payload = request.to_task_request(sound_default=self.service.spec.sound_available)
        task_id = KlingServing(self.service).create(owner, payload, idempotency_key, meta=request.meta())
        return self.retrieve(owner, task_id)

    # -------------------------------------------------------------------------------------------- read

    def task(self, owner: str, video_id: str) -> TaskRecord:
        # One answer for "no such video" and "another key's video": nothing leaks about other keys.
        task = self.service.find(owner, video_id)
        if task is None:
            raise NotFound("video_id: no such video", field="video_id")
        return task

    def retrieve(self, owner: str, video_id: str) -> Video:
        return to_video(self.task(owner, video_id))

    def retrieve_with_poll_hint(self, owner: str, video_id: str) -> tuple[Video, int | None]:
        """The video, and how long a poller should wait before asking again (the `openai-poll-after-ms`
        header the official client honours): a quarter of the task's ETA, 0.25–5 s; None once it ended."""
        task = self.task(owner, video_id)
        hint = None if task.status.is_terminal else int(min(5000, max(250, self.service.eta(task) * 250)))
        return to_video(task), hint

    def list(self, owner: str, *, after: str | None, limit: int, order: str) -> VideoList:
        if order not in ("asc", "desc"):
            raise InvalidRequest(f"order: must be asc or desc, got {order!r}", field="order")
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise InvalidRequest(f"limit: must be between 1 and {LIST_LIMIT_MAX}, got {limit}", field="limit")
        before = None
        if after:
            anchor = self.service.find(owner, after)
            if anchor is None:
                raise InvalidRequest("after: no video with this id for this key; pass `last_id` of the previous "
                                     "page", field="after")
            before = (anchor.created_at_ms, anchor.id)
        rows = self.service.page(owner, status=None, limit=limit + 1, before=before, oldest_first=order == "asc")
        page = [to_video(t) for t in rows[:limit]]
        return VideoList(data=page, first_id=page[0].id if page else None, last_id=page[-1].id if page else None,
                         has_more=len(rows) > limit)

    # ------------------------------------------------------------------------------------------ delete

    def delete(self, owner: str, video_id: str) -> VideoDeleted:
        """Delete a video: its row and its file. A queued one is canceled first (it never starts); a
        running one is refused (409), because its worker still writes the row and the file: cancel it
        through the Kling API's extension, or wait until it ends, then delete it."""
        task: TaskRecord | None = self.task(owner, video_id)
        if task is not None and task.status is TaskStatus.QUEUED:
            task = self.service.cancel_queued(task)
        if task is not None and not task.status.is_terminal:
            raise Conflict(
                f"video_id: the video is being generated ({task.status.openai}, {task.progress}%); cancel it "
                f"with POST /v3/async/tasks/{task.id}/cancel or wait until it ends, then delete it",
                field="video_id", metadata={"status": task.status.openai},
                headers={"x-should-retry": "false"},  # the official client retries a 409 unless told not to
            )
        gone = self.service.delete(task) if task is not None else None
        if gone is None:  # deleted by a concurrent request
            raise NotFound("video_id: no such video", field="video_id")
        return VideoDeleted(id=gone.id)

    # ----------------------------------------------------------------------------------------- content

    def content(self, owner: str, video_id: str, variant: str | None) -> Path | str:
        """Where the finished mp4 is: a local file, or a short-lived object-store URL to redirect to."""
        if variant not in (None, "video"):
            detail = "only `video` is available on this server" if variant in ("thumbnail", "spritesheet") \
                else f"must be video, got {variant!r}"
            raise InvalidRequest(f"variant: {detail}", field="variant")
        task = self.task(owner, video_id)
        if task.status is not TaskStatus.SUCCEED or not task.result_key:
            raise NotFound(f"video_id: the video's status is {task.status.openai}, not completed; download it "
                           "once it is completed", field="video_id", metadata={"status": task.status.openai})
        where = self.service.locate(task)
        if where is None:
            raise NotFound("video_id: this video's file no longer exists", field="video_id")
        return where


def to_video(task: TaskRecord) -> Video:
    """A task in OpenAI's terms. Tasks made through the Kling API have no `meta`: their model is the
    canonical one and their size the canonical size of their aspect ratio."""
    meta = task.meta if task.meta.get("api") == "openai" else {}
    status = task.status.openai
    error = None
    if task.status is TaskStatus.FAILED:
        error = VideoError(code="generation_failed", message=task.reason or "generation failed")
    elif task.status is TaskStatus.CANCELED:
        error = VideoError(code="canceled", message="the task was canceled before it finished")
    request = task.request
    return Video(
        id=task.id,
        model=meta.get("model", CANONICAL_MODEL),
        status=status,  # type: ignore[arg-type]
        progress=100 if task.status is TaskStatus.SUCCEED else task.progress,
        created_at=task.created_at_ms // 1000,
        completed_at=task.finished_at_ms // 1000 if task.finished_at_ms is not None and task.status.is_terminal
        else None,
        prompt="\n".join(s.prompt for s in request.shots),
        seconds=meta.get("seconds", str(request.duration)),
        size=meta.get("size", CANONICAL_SIZES[request.aspect_ratio]),
        error=error,
    )
