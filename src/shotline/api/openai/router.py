"""OpenAI-compatible video API: `/v1/videos`, on the same keys, queue and tasks as the Kling API (thin
routes; the logic is `api.openai.serving`). Errors here answer in OpenAI's shape (api/errors.py)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shotline.api.deps import KeyDep, ServiceDep
from shotline.api.files import video_response
from shotline.api.openai.serving import OpenAIVideos
from shotline.api.openapi import errors
from shotline.errors import InvalidRequest, UnsupportedMediaType
from shotline.protocol.openai import (
    FORM_TYPES,
    OPENAI_PREFIX,
    Video,
    VideoCreateRequest,
    VideoDeleted,
    VideoList,
)

router = APIRouter(prefix=OPENAI_PREFIX + "videos", tags=["OpenAI-compatible videos"])

ERRORS = errors(404, 409, 429, **{
    "404": "No such video for this key (or, for /content, not completed yet)",
    "409": "Delete of a video still being generated; Idempotency-Key reuse",
})
# The create route reads its body by hand (JSON or form), so the document gets the model's schema here.
_CREATE_BODY = VideoCreateRequest.model_json_schema()


def get_videos(service: ServiceDep) -> OpenAIVideos:
    return OpenAIVideos(service)


VideosDep = Annotated[OpenAIVideos, Depends(get_videos)]


async def read_fields(request: Request) -> dict[str, Any]:
    """The create body as a dict, from JSON or from a form (the official client sends multipart/form-data,
    so every value is a string; the model accepts OpenAI's string forms)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in FORM_TYPES:
        try:
            form = await request.form(max_files=1, max_fields=32)
        except StarletteHTTPException as err:  # a malformed form: Starlette's 400, in our shape
            raise InvalidRequest(f"body: is not a valid form ({err.detail})", field="body") from None
        fields: dict[str, Any] = {}
        for name, value in form.multi_items():
            if name in fields:
                raise InvalidRequest(f"{name}: is given more than once", field=name)
            fields[name] = value  # an upload stays an UploadFile: only `input_reference` could take one, and is refused
        await form.close()
        return fields
    body = await request.body()
    if media not in ("application/json", "") or (not media and body):
        raise UnsupportedMediaType(f"Content-Type: must be application/json or multipart/form-data, got "
                                   f"{media or 'none'}", field="Content-Type")
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidRequest(f"body: is not valid JSON ({err})", field="body") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest("body: must be a JSON object with the request fields", field="body")
    return parsed


@router.post(
    "", response_model=Video, responses=ERRORS, summary="Create a video (OpenAI `videos.create`)",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": _CREATE_BODY}, "multipart/form-data": {"schema": _CREATE_BODY}}}},
)
async def create_video(
    request: Request,
    videos: VideosDep,
    owner: KeyDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Video:
    fields = await read_fields(request)
    return await run_in_threadpool(videos.create, owner, fields, idempotency_key)


@router.get("", response_model=VideoList, responses=ERRORS, summary="List this key's videos (cursor pages)")
def list_videos(
    videos: VideosDep,
    owner: KeyDep,
    after: str | None = None,
    limit: int = 20,
    order: str = "desc",
) -> VideoList:
    return videos.list(owner, after=after, limit=limit, order=order)


@router.get("/{video_id}", response_model=Video, responses=ERRORS, summary="Get a video's status and progress")
def retrieve_video(video_id: str, response: Response, videos: VideosDep, owner: KeyDep) -> Video:
    video, poll_after_ms = videos.retrieve_with_poll_hint(owner, video_id)
    if poll_after_ms is not None:
        response.headers["openai-poll-after-ms"] = str(poll_after_ms)
    return video


@router.delete("/{video_id}", response_model=VideoDeleted, responses=ERRORS,
               summary="Delete a video: its file and its task (a queued one is canceled; a running one is 409)")
def delete_video(video_id: str, videos: VideosDep, owner: KeyDep) -> VideoDeleted:
    return videos.delete(owner, video_id)


@router.get("/{video_id}/content", response_class=FileResponse, summary="Download a completed video's mp4",
            responses={200: {"content": {"video/mp4": {}}}, **ERRORS, **errors(416)})
def video_content(request: Request, video_id: str, videos: VideosDep, owner: KeyDep,
                  variant: str | None = None) -> Response:
    return video_response(request, videos.content(owner, video_id, variant), video_id)
