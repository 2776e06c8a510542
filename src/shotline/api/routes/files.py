"""Finished videos behind signed URLs: no Authorization header needed, HTTP ranges supported."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from shotline.api.deps import ServiceDep
from shotline.errors import InvalidRequest, ShotlineError

router = APIRouter(tags=["files"])

_RANGE = re.compile(r"^bytes=\s*(\d*-\d*)(\s*,\s*\d*-\d*)*\s*$")


class RangeNotSatisfiable(ShotlineError):
    status_code = 416
    reason = "INVALID_REQUEST_BODY"


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


@router.get("/v3/files/{task_id}/video.mp4", summary="Download a finished video (signed URL from the task result)",
            response_class=FileResponse, responses={200: {"content": {"video/mp4": {}}}})
@router.head("/v3/files/{task_id}/video.mp4", include_in_schema=False)
def video_file(request: Request, task_id: str, service: ServiceDep, expires: str | None = None,
               signature: str | None = None) -> Response:
    path = service.signed_file(task_id, expires, signature)
    if isinstance(path, str):  # object storage: the bytes come from there, ranges included
        return RedirectResponse(path, status_code=307, headers={"Cache-Control": "no-store"})
    check_range(request.headers.get("range"), path.stat().st_size)
    return FileResponse(path, media_type="video/mp4", filename=f"{task_id}.mp4", content_disposition_type="inline",
                        headers={"Cache-Control": "private, max-age=300"})
