"""Python SDK for Shotline (and the hosted Kling v3.0 Pro text-to-video API it mirrors).

    from shotline.client import Shotline
    with Shotline("http://127.0.0.1:8000", api_key="...") as client:
        result = client.videos.create_and_poll(prompt="a red fox in snow", duration=5, sound=True,
                                               on_progress=lambda r: print(r.task.progress_percent))
        client.videos.download(result, "fox.mp4")

`AsyncShotline` is the same, awaited. Errors are the classes of `shotline.errors`, one per reason of the
contract, carrying the server's message, `field`, `status_code` and (429/503) `retry_after`.
Imports only the wire schemas and the errors: no server code, no torch.
"""

from shotline.client._core import CreateFields, TaskFailed, VideoNotReady
from shotline.client.async_client import AsyncShotline, AsyncTaskPage, AsyncVideos
from shotline.client.sync_client import Shotline, TaskPage, Videos
from shotline.errors import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    InternalError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    ShotlineError,
    Unauthorized,
    UnsupportedMediaType,
)
from shotline.protocol.kling import CreateTaskRequest, Extra, Shot, TaskListResponse, TaskResultResponse
from shotline.status import TaskStatus

__all__ = [
    "AsyncShotline", "AsyncTaskPage", "AsyncVideos", "Conflict", "ConnectionFailed", "CreateFields",
    "CreateTaskRequest", "Extra", "Forbidden", "InternalError", "InvalidRequest", "NotFound", "PayloadTooLarge",
    "RateLimited", "ServiceUnavailable", "Shot", "Shotline", "ShotlineError", "TaskFailed", "TaskListResponse",
    "TaskPage", "TaskResultResponse", "TaskStatus", "Unauthorized", "UnsupportedMediaType", "VideoNotReady",
    "Videos",
]
