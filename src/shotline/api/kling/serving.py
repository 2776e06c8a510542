"""The Kling API over the task service: its request in, its task-result body out.

A create validates nothing itself (the protocol model did) and hands the normalized request to the task
service; a result, a list page or a cancel reads tasks through the service and renders each as the hosted
API's task-result body (contract §2), with a freshly signed video link. Plain synchronous code: the routes
run it in the thread pool.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from shotline.db import TaskRecord
from shotline.errors import InvalidRequest, NotFound
from shotline.ids import is_task_id
from shotline.protocol.kling import (
    CreateTaskRequest,
    DebugInfo,
    ResultExtra,
    TaskInfo,
    TaskListResponse,
    TaskResultResponse,
    VideoItem,
)
from shotline.request import GenerationRequest
from shotline.service import Service
from shotline.status import TaskStatus


@dataclass
class KlingServing:
    service: Service

    def create(self, owner: str, payload: CreateTaskRequest, idempotency_key: str | None = None,
               meta: dict[str, str] | None = None) -> str:
        # Idempotency compares what the client asked for (defaults filled in), not the random seed.
        request_hash = hashlib.sha256(payload.model_dump_json().encode()).hexdigest()
        return self.service.create(owner, payload.normalized(), request_hash=request_hash,
                                   idempotency_key=idempotency_key, meta=meta)

    def result(self, owner: str, task_id: str | None, base_url: str) -> TaskResultResponse:
        if not task_id:
            raise InvalidRequest("task_id: is required (?task_id=<id>)", field="task_id")
        found = self.service.find_with_ahead(owner, task_id)
        if found is None:
            raise NotFound("task_id: no such task", field="task_id")
        return self.result_of(found[0], base_url, ahead=found[1])

    def result_of(self, task: TaskRecord, base_url: str, ahead: int | None = None,
                  with_request: bool = False) -> TaskResultResponse:
        """The task-result body for a task already read (webhooks render their payload with it)."""
        service = self.service
        videos = []
        if task.status is TaskStatus.SUCCEED and task.result_key:
            videos.append(VideoItem(video_url=service.video_url(task, base_url),
                                    video_url_ttl=str(service.settings.video_url_ttl_s)))
        labels = {k: v for k, v in task.result_extra.items() if k != "seed"}  # rows from before seeds had a column
        labels.setdefault("engine", task.engine)
        if task.engine == service.spec.name and service.spec.notice:
            labels.setdefault("notice", service.spec.notice)
        if ahead is not None and task.status is TaskStatus.QUEUED:
            labels["tasks_ahead"] = ahead  # running or queued before it: what a progress display shows
        if with_request:
            labels["request"] = request_fields(task.request)
        return TaskResultResponse(
            task=TaskInfo(
                task_id=task.id,
                status=task.status,
                reason=task.reason if task.status is TaskStatus.FAILED else "",
                eta=service.eta(task, ahead),
                progress_percent=100 if task.status is TaskStatus.SUCCEED else task.progress,
            ),
            videos=videos,
            extra=ResultExtra(
                seed=str(task.seed),
                debug_info=DebugInfo(
                    submit_time_ms=str(task.created_at_ms),
                    execute_time_ms=_str_or_empty(task.started_at_ms),
                    complete_time_ms=_str_or_empty(task.finished_at_ms),
                ),
                **labels,
            ),
        )

    def cancel(self, owner: str, task_id: str, base_url: str) -> TaskResultResponse:
        return self.result_of(self.service.cancel(owner, task_id), base_url)

    def list(self, owner: str, base_url: str, *, status: str | None, limit: int, cursor: str | None) -> TaskListResponse:
        wanted = None
        if status:
            try:
                wanted = TaskStatus(status)
            except ValueError:
                options = ", ".join(s.value for s in TaskStatus)
                raise InvalidRequest(f"status: must be one of {options}, got {status!r}", field="status") from None
        before = decode_cursor(cursor) if cursor else None
        rows = self.service.page(owner, status=wanted, limit=limit + 1, before=before)
        page, more = rows[:limit], len(rows) > limit
        return TaskListResponse(
            tasks=[self.result_of(t, base_url, with_request=True) for t in page],
            next_cursor=encode_cursor(page[-1]) if more and page else None,
        )


def request_fields(request: GenerationRequest) -> dict[str, object]:
    """A task's request in the create body's own fields (what a list shows, and what "use these settings
    again" resubmits); the owner's own data, so only in the owner's list."""
    fields: dict[str, object] = {"duration": request.duration, "aspect_ratio": request.aspect_ratio,
                                 "sound": request.sound, "cfg_scale": request.cfg_scale,
                                 "negative_prompt": request.negative_prompt}
    if request.multi_shot:
        fields["multi_prompt"] = [s.model_dump(exclude_none=True) for s in request.shots]
    else:
        fields["prompt"] = request.shots[0].prompt
    return fields


def _str_or_empty(value: int | None) -> str:
    return "" if value is None else str(value)


def encode_cursor(task: TaskRecord) -> str:
    return base64.urlsafe_b64encode(f"{task.created_at_ms}:{task.id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        created, _, task_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        if not is_task_id(task_id):
            raise ValueError(task_id)
        return int(created), task_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("cursor: not a cursor this server handed out; use next_cursor from the previous "
                             "page", field="cursor") from None
