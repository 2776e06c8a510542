"""Checks on the in-process app (fastapi's TestClient): what the database holds, and the error shapes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from shotline.protocol.openai import OPENAI_PREFIX
from tests.helpers.server import AUTH_A, CREATE

OK = {"prompt": "a red fox runs through fresh snow"}  # the smallest valid create body


def task_count(c: TestClient) -> int:
    from sqlalchemy import func, select

    from shotline.db.models import Task

    with c.app.state.service.tasks.session() as s:
        return int(s.scalar(select(func.count()).select_from(Task)) or 0)


def assert_error(response, status: int, reason: str, field: str | None) -> dict:
    """The answer is the error `status` with the contract's `reason`, naming `field` (None: any), in the
    shape of the API that was called: the Kling shape (contract §5), or OpenAI's under /v1/, where the
    reason is the lower-case `code` and the field is `param`. Returns the Kling body, or OpenAI's `error`."""
    assert response.status_code == status, response.text
    body = response.json()
    if response.request.url.path.startswith(OPENAI_PREFIX):
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"message", "type", "param", "code", "metadata"}, error
        assert error["code"] == reason.lower() and isinstance(error["type"], str)
        assert isinstance(error["message"], str) and error["message"]
        if field is not None:
            assert error["param"] == field, error
            assert error["message"].startswith(field), error["message"]
        return error
    assert set(body) == {"code", "reason", "message", "metadata"}
    assert body["code"] == status and body["reason"] == reason
    assert isinstance(body["message"], str) and body["message"]
    if field is not None:
        assert body["metadata"]["field"] == field, body
        assert body["message"].startswith(field), body["message"]
    return body


NOBODY = "00000000-0000-4000-8000-000000000000"
VIDEO = b"\x00\x00\x00\x18ftypisom" + b"shotline-test-video" * 100


def create(client: TestClient, headers: dict = AUTH_A) -> str:
    r = client.post(CREATE, json=OK, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["task_id"]


def finish(client: TestClient, task_id: str, content: bytes = VIDEO) -> None:
    """Make a queued task SUCCEED with a real stored file, the way a worker does (claim, save, transition)."""
    service = client.app.state.service
    claimed = service.tasks.claim(task_id, "test-worker", 60)
    assert claimed is not None
    src = Path(tempfile.mkdtemp()) / "video.mp4"
    src.write_bytes(content)
    key = service.storage.save(task_id, src)
    assert service.tasks.succeed(task_id, owned_by="test-worker", result_key=key)
