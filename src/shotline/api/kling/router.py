"""The Kling API's routes: the hosted API's two endpoints (create a text-to-video task, get its result)
and Shotline's extensions (list a key's tasks, cancel one). Thin: the logic is `api.kling.serving`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool

from shotline.api.deps import KeyDep, ServiceDep
from shotline.api.kling.serving import KlingServing
from shotline.api.openapi import errors
from shotline.protocol.kling import (
    CreateTaskRequest,
    CreateTaskResponse,
    TaskListResponse,
    TaskResultResponse,
)

router = APIRouter(prefix="/v3/async")
HOSTED = "Kling v3.0 Pro text-to-video"
EXTENSIONS = "Shotline extensions"


def get_kling(service: ServiceDep) -> KlingServing:
    return KlingServing(service)


KlingDep = Annotated[KlingServing, Depends(get_kling)]


@router.post("/kling-v3.0-pro-t2v", response_model=CreateTaskResponse, tags=[HOSTED],
             responses=errors(409, 429, **{"409": "Idempotency-Key reused with a different body"}),
             summary="Create a text-to-video task")
async def create_task(
    payload: CreateTaskRequest,
    kling: KlingDep,
    owner: KeyDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> CreateTaskResponse:
    task_id = await run_in_threadpool(kling.create, owner, payload, idempotency_key)
    return CreateTaskResponse(task_id=task_id)


@router.get("/task-result", response_model=TaskResultResponse, tags=[HOSTED], summary="Get a task's result")
def task_result(request: Request, kling: KlingDep, owner: KeyDep, task_id: str | None = None) -> TaskResultResponse:
    return kling.result(owner, task_id, str(request.base_url))


@router.get("/tasks", response_model=TaskListResponse, tags=[EXTENSIONS], summary="List this key's tasks, newest first")
def list_tasks(
    request: Request,
    kling: KlingDep,
    owner: KeyDep,
    status: Annotated[str | None, Query(description="Only tasks in this status, e.g. TASK_STATUS_SUCCEED")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` from the previous page")] = None,
) -> TaskListResponse:
    return kling.list(owner, str(request.base_url), status=status, limit=limit, cursor=cursor)


@router.post("/tasks/{task_id}/cancel", response_model=TaskResultResponse, tags=[EXTENSIONS],
             responses=errors(409, **{"409": "The task already ended; it is left as it is"}),
             summary="Cancel a task: a queued one never starts; a running one stops at the next step")
def cancel_task(request: Request, task_id: str, kling: KlingDep, owner: KeyDep) -> TaskResultResponse:
    return kling.cancel(owner, task_id, str(request.base_url))
