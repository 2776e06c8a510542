"""Isolation (contract §2): key B on key A's tasks: read, list, cancel, download, on both backends. Every
refusal is the 404 a nonexistent id gets, byte for byte. Signed video links: expired or altered → 403;
path traversal in any encoding → 404, never a byte from outside the results.

The matrix is read from `/openapi.json`: every authenticated operation that takes a task id (a path
parameter or `task_id`) is tried, so routes added later (the OpenAI-style `/v1/videos/{id}`) are held to
the same rule without a change here.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shotline.storage.signing import sign
from tests.helpers.api import NOBODY, VIDEO, assert_error, create, finish
from tests.helpers.server import AUTH_A, AUTH_B, RESULT

TASKS = "/v3/async/tasks"
def id_operations(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path template, how the id is passed) for each authenticated operation taking a task id."""
    found = []
    for path, item in client.get("/openapi.json").json()["paths"].items():
        for method, op in item.items():
            params = op.get("parameters", [])
            if not any(p["in"] == "header" and p["name"].lower() == "authorization" for p in params):
                continue
            path_ids = [p["name"] for p in params if p["in"] == "path"]
            if path_ids:
                found.append((method.upper(), path, path_ids[0]))
            elif any(p["in"] == "query" and p["name"] == "task_id" for p in params):
                found.append((method.upper(), path, "?task_id"))
    return found


def call(client: TestClient, op: tuple[str, str, str], task_id: str, headers: dict):
    method, path, where = op
    if where == "?task_id":
        return client.request(method, path, params={"task_id": task_id}, headers=headers)
    return client.request(method, path.replace("{" + where + "}", task_id), headers=headers)


def test_key_b_cannot_touch_key_a_tasks(client: TestClient) -> None:
    queued, done = create(client), create(client)
    finish(client, done)
    before = {t: client.get(RESULT, params={"task_id": t}, headers=AUTH_A).json() for t in (queued, done)}
    ops = id_operations(client)
    assert {(m, p) for m, p, _ in ops} >= {("GET", RESULT), ("POST", TASKS + "/{task_id}/cancel")}
    for op in ops:
        for task_id in (queued, done):
            theirs = call(client, op, task_id, AUTH_B)
            nothing = call(client, op, NOBODY, AUTH_B)
            assert_error(theirs, 404, "NOT_FOUND", None)
            # The same answer as for an id that does not exist, except the id itself where a message echoes it.
            assert theirs.json() == _with_id(nothing.json(), NOBODY, task_id), (op, theirs.text, nothing.text)
    # B's list shows none of A's tasks, whatever the filter or cursor.
    mine = create(client, AUTH_B)
    listed = client.get(TASKS, headers=AUTH_B).json()
    assert [t["task"]["task_id"] for t in listed["tasks"]] == [mine]
    for status in ("TASK_STATUS_QUEUED", "TASK_STATUS_SUCCEED"):
        page = client.get(TASKS, params={"status": status}, headers=AUTH_B).json()
        assert {t["task"]["task_id"] for t in page["tasks"]} <= {mine}
    # A cursor made from A's newest task (cursors are not secret) still pages through B's tasks only.
    a_list = client.get(TASKS, params={"limit": 1}, headers=AUTH_A).json()
    assert a_list["next_cursor"]
    crafted = client.get(TASKS, params={"cursor": a_list["next_cursor"]}, headers=AUTH_B).json()
    assert {t["task"]["task_id"] for t in crafted["tasks"]} <= {mine}
    # Nothing B did changed A's tasks (the cancel and any delete were refused).
    after = {t: client.get(RESULT, params={"task_id": t}, headers=AUTH_A).json() for t in (queued, done)}
    for t in (queued, done):
        assert after[t]["task"] == before[t]["task"]
    assert after[queued]["task"]["status"] == "TASK_STATUS_QUEUED"


def _with_id(body: dict, old: str, new: str) -> dict:
    import json

    return json.loads(json.dumps(body).replace(old, new))


# ------------------------------------------------------------------------------------------ signed links


def _fetch(client: TestClient, url: str):
    path = url.split("://", 1)[1].split("/", 1)[1]
    return client.get("/" + path, follow_redirects=False)


def _served(client: TestClient, response) -> bytes:
    """The video bytes a link leads to: straight from us (local) or from the object store (redirect)."""
    if response.status_code == 307:
        import httpx

        return httpx.get(response.headers["location"]).content
    assert response.status_code == 200, response.text
    return response.content


def test_a_signed_link_opens_only_its_own_video(client: TestClient) -> None:
    a, b = create(client), create(client, AUTH_B)
    finish(client, a, VIDEO + b"A")
    finish(client, b, VIDEO + b"B")
    url_a = client.get(RESULT, params={"task_id": a}, headers=AUTH_A).json()["videos"][0]["video_url"]
    url_b = client.get(RESULT, params={"task_id": b}, headers=AUTH_B).json()["videos"][0]["video_url"]
    assert _served(client, _fetch(client, url_a)) == VIDEO + b"A"  # no Authorization needed: a capability
    # B's signature does not open A's video: the signature covers the task id.
    query_b = url_b.split("?", 1)[1]
    assert_error(client.get(f"/v3/files/{a}/video.mp4?{query_b}"), 403, "UNAUTHORIZED", "signature")


def test_expired_and_tampered_links_are_403(client: TestClient) -> None:
    task_id = create(client)
    finish(client, task_id)
    service = client.app.state.service
    secret = service.signer.secret
    expires, sig = sign(secret, task_id, ttl_s=-5)  # signed correctly, 5 s in the past
    assert_error(client.get(f"/v3/files/{task_id}/video.mp4", params={"expires": expires, "signature": sig}),
                 403, "UNAUTHORIZED", "expires")
    expires, sig = sign(secret, task_id, ttl_s=600)
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    cases = [
        {"expires": expires, "signature": flipped},  # altered signature
        {"expires": expires + 3600, "signature": sig},  # a longer life, same signature
        {"expires": expires, "signature": sig.upper()},  # not the hex we sign
        {"expires": expires, "signature": sig[:32]},  # a prefix
        {"expires": expires, "signature": ""},
        {"expires": "", "signature": sig},
        {"expires": f"{expires}.0", "signature": sig},
        {"expires": "-1", "signature": sig},
        {"signature": sig},
        {},
        {"expires": expires, "signature": "é" * 64},  # non-ASCII: once a TypeError in compare_digest (a 500)
        {"expires": "".join(chr(0x660 + int(d)) for d in str(expires)), "signature": sig},  # Arabic-Indic digits
    ]
    for params in cases:
        r = client.get(f"/v3/files/{task_id}/video.mp4", params=params)
        assert_error(r, 403, "UNAUTHORIZED", None)
    # Bytes that are not UTF-8 at all, percent-encoded in the query.
    assert_error(client.get(f"/v3/files/{task_id}/video.mp4?expires={expires}&signature=%ff%fe{sig[4:]}"),
                 403, "UNAUTHORIZED", "signature")
    other = create(client)
    finish(client, other)
    assert_error(client.get(f"/v3/files/{other}/video.mp4", params={"expires": expires, "signature": sig}),
                 403, "UNAUTHORIZED", "signature")
    # The untampered link works.
    r = client.get(f"/v3/files/{task_id}/video.mp4", params={"expires": expires, "signature": sig},
                   follow_redirects=False)
    assert r.status_code in (200, 307)


@pytest.fixture
def raw_server(client: TestClient) -> Iterator[int]:
    """The same app on a real socket: httpx normalizes `..` in URLs, http.client sends paths verbatim."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(client.app, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)
    sock.close()


TRAVERSALS = [
    "/v3/files/../../secret.key",
    "/v3/files/{id}/../../../secret.key",
    "/v3/files/..%2f..%2fsecret.key/video.mp4",
    "/v3/files/%2e%2e%2f%2e%2e%2fsecret.key/video.mp4",
    "/v3/files/%2E%2E%2F%2E%2E%2Fshotline.db/video.mp4",
    "/v3/files/%252e%252e%252fsecret.key/video.mp4",
    "/v3/files/..%5c..%5csecret.key/video.mp4",
    "/v3/files/..\\..\\secret.key/video.mp4",
    "/v3/files/{id}%2f..%2f..%2fsecret.key/video.mp4",
    "/v3/files/{id}/..%2f..%2f..%2fsecret.key",
    "/v3/files/%2fetc%2fpasswd/video.mp4",
    "/v3/files/{id}%00/video.mp4",
    "/v3/files/{id}.mp4/video.mp4",
    "/v3/files/..%c0%af..%c0%afsecret.key/video.mp4",
]


@pytest.mark.parametrize("template", TRAVERSALS)
def test_path_traversal_never_leaves_the_results(client: TestClient, raw_server: int, template: str) -> None:
    task_id = create(client)
    finish(client, task_id)
    settings = client.app.state.settings
    settings.signing_secret()  # make sure secret.key exists in the data dir, as a target
    expires, sig = sign(client.app.state.service.signer.secret, task_id, ttl_s=600)
    secrets = [p.read_bytes() for p in (settings.data_dir / "secret.key", Path("/etc/passwd")) if p.is_file()]
    path = template.replace("{id}", task_id) + f"?expires={expires}&signature={sig}"
    conn = http.client.HTTPConnection("127.0.0.1", raw_server, timeout=10)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status in (403, 404), (path, r.status, body[:200])
    assert re.match(rb'^\{"code":\s*4\d\d', body), body[:200]
    for secret in secrets:
        assert secret[:32] not in body
