"""Shotline's extensions to the task API: list a key's tasks, cancel one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from shotline.api.deps import KeyDep, ServiceDep
from shotline.api.routes.kling import ERRORS
from shotline.schemas import TaskListResponse, TaskResultResponse

router = APIRouter(prefix="/v3/async/tasks", tags=["Shotline extensions"])


@router.get("", response_model=TaskListResponse, responses=ERRORS, summary="List this key's tasks, newest first")
def list_tasks(
    request: Request,
    service: ServiceDep,
    owner: KeyDep,
    status: Annotated[str | None, Query(description="Only tasks in this status, e.g. TASK_STATUS_SUCCEED")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` from the previous page")] = None,
) -> TaskListResponse:
    return service.list(owner, str(request.base_url), status=status, limit=limit, cursor=cursor)


@router.post("/{task_id}/cancel", response_model=TaskResultResponse, responses=ERRORS,
             summary="Cancel a task: a queued one never starts; a running one stops at the next step")
def cancel_task(request: Request, task_id: str, service: ServiceDep, owner: KeyDep) -> TaskResultResponse:
    return service.cancel(owner, task_id, str(request.base_url))
