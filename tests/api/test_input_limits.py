"""Hostile input: prompt length counted in characters (emoji, CJK), JSON nesting, bodies that are not
UTF-8, numbers too long to parse, slow bodies. Each refusal is the contract's 400/408/413 naming the
field, and queues nothing."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shotline.config import Settings
from tests.helpers.api import assert_error, task_count
from tests.helpers.server import AUTH_A, CREATE, KEY_A

JSON = {**AUTH_A, "Content-Type": "application/json"}


@pytest.mark.parametrize("char", ["😀", "猫", "é"], ids=["emoji-4-bytes", "cjk-3-bytes", "latin-2-bytes"])
def test_prompt_limit_counts_characters_not_bytes(client: TestClient, char: str) -> None:
    # 2500 four-byte emoji are 10 KB of UTF-8: within the 64 KiB body limit, so the character rule decides.
    ok = client.post(CREATE, json={"prompt": char * 2500, "negative_prompt": char * 2500}, headers=AUTH_A)
    assert ok.status_code == 200, ok.text
    stored = client.app.state.service.tasks.get(ok.json()["task_id"]).request
    assert stored.shots[0].prompt == char * 2500  # stored whole, not cut or re-encoded
    before = task_count(client)
    for field in ("prompt", "negative_prompt"):
        body = {"prompt": "x", field: char * 2501}
        err = assert_error(client.post(CREATE, json=body, headers=AUTH_A), 400, "INVALID_REQUEST_BODY", field)
        assert "2501" in err["message"]
    shot = {"multi_prompt": [{"prompt": char * 2501}]}
    assert_error(client.post(CREATE, json=shot, headers=AUTH_A), 400, "INVALID_REQUEST_BODY",
                 "multi_prompt[0].prompt")
    assert task_count(client) == before


@pytest.mark.parametrize("depth", [33, 1000, 30000])
def test_deep_json_is_refused_naming_the_body(client: TestClient, depth: int) -> None:
    before = task_count(client)
    body = '{"prompt": "x", "extra": ' + "[" * depth + "]" * depth + "}"
    assert_error(client.post(CREATE, content=body, headers=JSON), 400, "INVALID_REQUEST_BODY", "body")
    assert task_count(client) == before


def test_brackets_inside_strings_are_not_nesting(client: TestClient) -> None:
    prompt = "[{" * 1000 + '"\\'
    assert client.post(CREATE, json={"prompt": prompt}, headers=AUTH_A).status_code == 200


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"prompt": "caf\xe9"}', "body"),  # Latin-1, not UTF-8
        (b'{"prompt": "\\ud800"}', "prompt"),  # a lone surrogate
        (b'{"prompt": "x", "duration": ' + b"9" * 5000 + b"}", "body"),  # past Python's int-parsing limit
        (b'{"prompt": "x", "extra": {"seed": ' + b"9" * 4000 + b"}}", "extra.seed"),
        (b'{"prompt": "x", "cfg_scale": NaN}', "cfg_scale"),
        (b'{"prompt": "x", "cfg_scale": 1e400}', "cfg_scale"),
    ],
    ids=["latin1", "surrogate", "huge-int", "long-seed", "nan", "inf"],
)
def test_malformed_bodies_are_400_naming_a_field(client: TestClient, raw: bytes, field: str) -> None:
    before = task_count(client)
    err = assert_error(client.post(CREATE, content=raw, headers=JSON), 400, "INVALID_REQUEST_BODY", field)
    assert len(err["message"]) < 300  # the echo of what was sent stays short
    assert task_count(client) == before


def test_a_body_that_arrives_too_slowly_is_408(tmp_path: Path) -> None:
    """A real server on a real socket: a client that sends its headers and then trickles the body gets
    408 in the contract's shape once the body deadline passes; the server keeps answering others."""
    import httpx
    import uvicorn

    from shotline.api.app import create_app

    settings = Settings(data_dir=tmp_path / "data", api_keys=[KEY_A], embedded_worker=False, _env_file=None,
                        body_timeout_s=1.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        body = b'{"prompt": "a slow fox"}'
        with socket.create_connection(("127.0.0.1", port), timeout=20) as slow:
            slow.sendall(b"POST " + CREATE.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                         KEY_A.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " +
                         str(len(body)).encode() + b"\r\n\r\n" + body[:5])
            # Meanwhile another client is served at once.
            fast = httpx.post(f"http://127.0.0.1:{port}{CREATE}", json={"prompt": "a quick fox"}, headers=AUTH_A)
            assert fast.status_code == 200
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = slow.recv(4096)
                if not chunk:
                    break
                answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer
        assert b'"field": "body"' in payload and b'"code": 408' in payload
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_client_strings_enter_log_lines_escaped() -> None:
    from shotline.api.errors import _loggable

    forged = "/v3/x\n2026-11-25 INFO shotline.api [1] key revoked\r\x1b[2J"
    line = _loggable(forged)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.startswith("/v3/x\\n") and len(_loggable("é" * 1000)) <= 200 * 6
