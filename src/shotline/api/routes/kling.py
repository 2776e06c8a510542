"""The hosted API's two endpoints: create a text-to-video task, get its result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool

from shotline.api.deps import KeyDep, ServiceDep
from shotline.schemas import CreateTaskRequest, CreateTaskResponse, ErrorBody, TaskResultResponse

router = APIRouter(prefix="/v3/async", tags=["Kling v3.0 Pro text-to-video"])

ERRORS = {
    400: {"model": ErrorBody, "description": "Invalid request; `metadata.field` names the field"},
    401: {"model": ErrorBody, "description": "Missing or unknown API key"},
    404: {"model": ErrorBody, "description": "No such task for this key"},
    409: {"model": ErrorBody, "description": "Idempotency-Key reused with a different body"},
    413: {"model": ErrorBody, "description": "Body over 64 KiB"},
    415: {"model": ErrorBody, "description": "Content-Type is not application/json"},
    429: {"model": ErrorBody, "description": "Over the key's rate or queue quota"},
}


@router.post("/kling-v3.0-pro-t2v", response_model=CreateTaskResponse, responses=ERRORS,
             summary="Create a text-to-video task")
async def create_task(
    payload: CreateTaskRequest,
    service: ServiceDep,
    owner: KeyDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> CreateTaskResponse:
    task_id = await run_in_threadpool(service.create, owner, payload, idempotency_key)
    return CreateTaskResponse(task_id=task_id)


@router.get("/task-result", response_model=TaskResultResponse, responses=ERRORS, summary="Get a task's result")
def task_result(request: Request, service: ServiceDep, owner: KeyDep, task_id: str | None = None) -> TaskResultResponse:
    return service.result(owner, task_id, str(request.base_url))
