"""Structured logs: one JSON object per line with the request id, which follows a task into the worker
(the embedded child, and a `shotline worker` process on the scale-out backend); and, at INFO, no API key
and no prompt text anywhere in the logs of the API or the worker."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from shotline.db import KeyStore, make_db
from shotline.logs import ContextIds, make_formatter, reset_request_id, set_request_id, task_context
from tests.helpers.backends import BACKENDS, backend_overrides
from tests.helpers.server import CREATE, KEY_A, KEY_B, LiveServer, wait_terminal

PROMPT = "PROMPTMARK okapi juggling tangerines 5512"
SHOT = "SHOTMARK heron on a tram 7781"
NEGATIVE = "NEGMARK blurry walrus 9043"
ENV_KEY = "ENVKEYMARK-plum-42-secret"
WRONG_KEY = "WRONGKEYMARK-not-a-key-3310"
REQUEST_ID = "req-logtest-0001"


def capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(make_formatter(fmt))
    handler.addFilter(ContextIds())
    logger = logging.getLogger(f"shotline.test.{fmt}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_json_lines_carry_the_request_and_task_ids() -> None:
    logger, out = capture("json")
    logger.info("outside any request")
    token = set_request_id("req-1")
    try:
        logger.info("in a request: %s", "detail")
    finally:
        reset_request_id(token)
    with task_context("task-9", "req-2"):
        logger.warning("in a task")
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert {"ts", "level", "logger", "message", "request_id", "task_id"} <= set(first)
    assert first["request_id"] is None and first["task_id"] is None and first["level"] == "INFO"
    assert second["message"] == "in a request: detail" and second["request_id"] == "req-1"
    assert third == {**third, "level": "WARNING", "request_id": "req-2", "task_id": "task-9",
                     "logger": "shotline.test.json"}


def test_text_lines_name_the_ids_too() -> None:
    logger, out = capture("text")
    with task_context("task-9", "req-2"):
        logger.info("in a task")
    assert out.getvalue().rstrip().endswith("in a task [request_id=req-2 task_id=task-9]")


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    overrides = backend_overrides(request, request.param)
    live = LiveServer(tmp_path_factory.mktemp(f"logs-{request.param}") / "data", overrides,
                      SHOTLINE_LOG_LEVEL="INFO", SHOTLINE_LOG_FORMAT="json",
                      SHOTLINE_API_KEYS=f"{KEY_A},{KEY_B},{ENV_KEY}").start()
    yield live
    live.stop()


def test_request_id_follows_the_task_and_no_key_or_prompt_is_logged(server: LiveServer) -> None:
    db_url = server.env.get("SHOTLINE_DATABASE_URL") or f"sqlite:///{server.data_dir / 'shotline.db'}"
    _, db_key = KeyStore(make_db(db_url)).create("log-test")
    with server.client({"Authorization": f"Bearer {db_key}"}) as http:
        r = http.post(CREATE, json={"prompt": PROMPT, "negative_prompt": NEGATIVE, "duration": 3},
                      headers={"X-Request-Id": REQUEST_ID})
        assert r.status_code == 200 and r.headers["X-Request-Id"] == REQUEST_ID
        task_id = r.json()["task_id"]
        multi = http.post(CREATE, json={"multi_prompt": [{"prompt": SHOT}], "duration": 3}).json()["task_id"]
        assert wait_terminal(http, task_id)["task"]["status"] == "TASK_STATUS_SUCCEED"
        assert wait_terminal(http, multi)["task"]["status"] == "TASK_STATUS_SUCCEED"
        # Refusals too: a bad body that carries a prompt, an unknown key, the env key.
        assert http.post(CREATE, json={"prompt": PROMPT, "duration": 99}).status_code == 400
        assert http.post(CREATE, json={"prompt": PROMPT},
                         headers={"Authorization": f"Bearer {WRONG_KEY}"}).status_code == 401
        assert http.get("/v3/async/tasks", headers={"Authorization": f"Bearer {ENV_KEY}"}).status_code == 200
    server.stop()  # everything flushed
    text = server.log.read_text() + (server.worker_logs() if server.scale else "")

    for secret in (PROMPT, SHOT, NEGATIVE, db_key, ENV_KEY, WRONG_KEY, "PROMPTMARK", "SHOTMARK", "NEGMARK"):
        assert secret not in text, f"{secret!r} is in the logs"

    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert records, text[-2000:]
    ours = [r for r in records if r["logger"].startswith("shotline")]
    assert all({"ts", "level", "logger", "message", "request_id", "task_id"} <= set(r) for r in ours)
    # The API's line for the create, and the worker's lines for the task, share the request id.
    assert any(r["logger"] == "shotline.api.access" and r["request_id"] == REQUEST_ID and r["path"] == CREATE
               and r["status"] == 200 for r in records)
    worker_lines = [r for r in records if r["logger"] == "shotline.worker" and r["task_id"] == task_id]
    assert worker_lines and all(r["request_id"] == REQUEST_ID for r in worker_lines)
    assert any("ended TASK_STATUS_SUCCEED" in r["message"] for r in worker_lines)
    # The second task's worker lines carry that request's generated id, not the first one's.
    multi_lines = [r for r in records if r["logger"] == "shotline.worker" and r["task_id"] == multi]
    assert multi_lines and all(r["request_id"] not in (None, REQUEST_ID) for r in multi_lines)


def test_at_debug_the_worker_does_log_prompts(tmp_path) -> None:
    """The other side of the test above: the check would see a prompt that reached the logs."""
    live = LiveServer(tmp_path / "data", SHOTLINE_LOG_LEVEL="DEBUG").start()
    try:
        with live.client() as http:
            task_id = http.post(CREATE, json={"prompt": PROMPT, "duration": 3}).json()["task_id"]
            assert wait_terminal(http, task_id)["task"]["status"] == "TASK_STATUS_SUCCEED"
    finally:
        live.stop()
    assert PROMPT in live.log.read_text()


def test_gpu_memory_is_reported_only_by_a_process_that_uses_cuda() -> None:
    import sys

    from shotline.worker import gpu_memory

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        assert gpu_memory() == {}  # this test process: no torch, or torch on a CPU
    else:
        torch.zeros(1, device="cuda")
        measured = gpu_memory()
        assert 0 < measured["gpu_memory_used_bytes"] <= measured["gpu_memory_total_bytes"]
