"""Finished videos behind signed URLs: no Authorization header needed, HTTP ranges supported."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from shotline.api.deps import ServiceDep
from shotline.api.openapi import errors
from shotline.errors import InvalidRequest, RangeNotSatisfiable

router = APIRouter(tags=["files"])

_RANGE = re.compile(r"^bytes=\s*(\d*-\d*)(\s*,\s*\d*-\d*)*\s*$")


def check_range(header: str | None, size: int) -> None:
    """Refuse bad Range headers in the contract's shape (Starlette would answer in plain text)."""
    if header is None:
        return
    if not _RANGE.match(header):
        raise InvalidRequest("Range: must look like `bytes=0-1023`", field="Range")
    satisfiable = False
    for part in header.split("=", 1)[1].split(","):
        start, _, end = part.strip().partition("-")
        if not start and not end:
            raise InvalidRequest("Range: must look like `bytes=0-1023`", field="Range")
        if start and end and int(end) < int(start):
            raise InvalidRequest("Range: a range cannot end before it starts", field="Range")
        if (start and int(start) < size) or (not start and int(end) > 0):
            satisfiable = True
    if not satisfiable:
        raise RangeNotSatisfiable(f"Range: the video has {size} bytes", field="Range",
                                  headers={"Content-Range": f"bytes */{size}"})


def video_response(request: Request, where: Path | str, name: str) -> Response:
    """A finished mp4: a local file (ranges served), or a redirect to the object store that holds it."""
    if isinstance(where, str):  # object storage: the bytes (and ranges) come from there
        return RedirectResponse(where, status_code=307, headers={"Cache-Control": "no-store"})
    check_range(request.headers.get("range"), where.stat().st_size)
    return FileResponse(where, media_type="video/mp4", filename=f"{name}.mp4", content_disposition_type="inline",
                        headers={"Cache-Control": "private, max-age=300"})


@router.get("/v3/files/{task_id}/video.mp4", summary="Download a finished video (signed URL from the task result)",
            response_class=FileResponse, responses={200: {"content": {"video/mp4": {}}}, **errors(403, 416)})
@router.head("/v3/files/{task_id}/video.mp4", include_in_schema=False)
def video_file(request: Request, task_id: str, service: ServiceDep, expires: str | None = None,
               signature: str | None = None) -> Response:
    return video_response(request, service.signed_file(task_id, expires, signature), task_id)
