"""OpenAI-compatible video API: `/v1/videos`, on the same keys, queue and tasks as the Kling API (thin
routes; the logic is `shotline.openai_serving`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shotline.api.deps import KeyDep, ServiceDep
from shotline.api.routes.files import check_range
from shotline.errors import InvalidRequest, UnsupportedMediaType
from shotline.openai_protocol import Video, VideoCreateRequest, VideoDeleted, VideoList
from shotline.openai_serving import OpenAIVideos
from shotline.schemas import ErrorBody

router = APIRouter(prefix="/v1/videos", tags=["OpenAI-compatible videos"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid request; `metadata.field` names the field"},
    401: {"model": ErrorBody, "description": "Missing or unknown API key"},
    404: {"model": ErrorBody, "description": "No such video for this key (or, for /content, not completed yet)"},
    409: {"model": ErrorBody, "description": "Delete of a video still being generated; Idempotency-Key reuse"},
    413: {"model": ErrorBody, "description": "Body over 64 KiB"},
    415: {"model": ErrorBody, "description": "Content-Type is not JSON or a form"},
    429: {"model": ErrorBody, "description": "Over the key's rate or queue quota"},
}
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
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
            responses={200: {"content": {"video/mp4": {}}}, **ERRORS})
def video_content(request: Request, video_id: str, videos: VideosDep, owner: KeyDep,
                  variant: str | None = None) -> Response:
    where = videos.content(owner, video_id, variant)
    if isinstance(where, str):  # object storage: the bytes (and ranges) come from there
        return RedirectResponse(where, status_code=307, headers={"Cache-Control": "no-store"})
    check_range(request.headers.get("range"), where.stat().st_size)
    return FileResponse(where, media_type="video/mp4", filename=f"{video_id}.mp4", content_disposition_type="inline",
                        headers={"Cache-Control": "private, max-age=300"})
