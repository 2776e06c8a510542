"""Contract §3, the OpenAI-compatible video API, without a worker: the official `openai` package as the
client (over the in-process app, on both backends), every refusal as the client's own exception with our
message and our error shape, nothing queued for a refusal, and the same tasks as the Kling API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2  # what the openai package and Starlette's TestClient are built on
import openai
import pytest
from fastapi.testclient import TestClient

from shotline.status import TaskStatus
from tests.helpers.api import assert_error, task_count
from tests.helpers.server import AUTH_A, AUTH_B, CREATE, KEY_A, KEY_B, RESULT

VIDEOS = "/v1/videos"
# Checks of the request alone do not depend on the backend: run them on the embedded one only.
embedded_only = pytest.mark.parametrize("settings", ["embedded"], indirect=True)


def openai_client(client: TestClient, key: str = KEY_A, sent: list[httpx2.Request] | None = None) -> openai.OpenAI:
    """The official client, talking to the in-process app through the TestClient's transport."""
    http = httpx2.Client(transport=client._transport, base_url=client.base_url,
                         event_hooks={"request": [sent.append]} if sent is not None else {})
    return openai.OpenAI(api_key=key, base_url=f"{client.base_url}/v1", http_client=http, max_retries=0)


@pytest.fixture
def oai(client: TestClient) -> Iterator[openai.OpenAI]:
    with openai_client(client) as c:
        yield c


def stored(client: TestClient, task_id: str):
    return client.app.state.service.tasks.get(task_id)


# ------------------------------------------------------------------------------------------------ create


def test_official_client_creates_with_a_form_and_gets_the_video_object(client: TestClient) -> None:
    sent: list[httpx2.Request] = []
    with openai_client(client, sent=sent) as oai:
        video = oai.videos.create(prompt="a red fox runs through snow", model="sora-2", seconds="8", size="1280x720")
    assert sent[-1].headers["content-type"].startswith("multipart/form-data; boundary=")
    assert video.object == "video" and video.status == "queued" and video.progress == 0
    assert (video.model, video.seconds, video.size, video.prompt) == ("sora-2", "8", "1280x720",
                                                                       "a red fox runs through snow")
    assert video.error is None and video.completed_at is None and video.created_at > 1_700_000_000
    request = stored(client, video.id).request
    assert (request.duration, request.aspect_ratio, request.shots[0].prompt) == (8, "16:9", video.prompt)


def test_defaults_are_openais(oai: openai.OpenAI, client: TestClient) -> None:
    video = oai.videos.create(prompt="rain on a window")
    assert (video.model, video.seconds, video.size) == ("sora-2", "4", "720x1280")
    request = stored(client, video.id).request
    assert (request.duration, request.aspect_ratio, request.sound) == (4, "9:16", True)  # tiny makes sound


@embedded_only
@pytest.mark.parametrize(("size", "aspect"), [("1280x720", "16:9"), ("1792x1024", "16:9"), ("1920x1080", "16:9"),
                                              ("720x1280", "9:16"), ("1024x1792", "9:16"), ("1024x1024", "1:1"),
                                              ("480x480", "1:1")])
def test_size_maps_to_an_aspect_ratio(oai: openai.OpenAI, client: TestClient, size: str, aspect: str) -> None:
    video = oai.videos.create(prompt="a drummer", size=size)  # type: ignore[arg-type]
    assert video.size == size
    assert stored(client, video.id).request.aspect_ratio == aspect


@embedded_only
@pytest.mark.parametrize("seconds", ["3", "15", " 12 "])
def test_seconds_as_strings(oai: openai.OpenAI, client: TestClient, seconds: str) -> None:
    video = oai.videos.create(prompt="a drummer", seconds=seconds)  # type: ignore[arg-type]
    assert video.seconds == seconds.strip()
    assert stored(client, video.id).request.duration == int(seconds)


def test_json_body_with_integer_seconds_and_extensions(client: TestClient) -> None:
    r = client.post(VIDEOS, headers=AUTH_A, json={"prompt": "a drummer", "model": "kling-v3.0-pro", "seconds": 5,
                                                  "size": "1024x1024", "sound": False, "seed": 7,
                                                  "negative_prompt": "blur", "cfg_scale": 0.9})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["seconds"], body["size"]) == ("kling-v3.0-pro", "5", "1024x1024")
    task = stored(client, body["id"])
    assert (task.request.duration, task.request.aspect_ratio, task.request.sound) == (5, "1:1", False)
    assert (task.seed, task.request.negative_prompt, task.request.cfg_scale) == (7, "blur", 0.9)


@embedded_only
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"seconds": "2"}, "seconds"),
        ({"seconds": "16"}, "seconds"),
        ({"seconds": "4.5"}, "seconds"),
        ({"seconds": "four"}, "seconds"),
        ({"seconds": ""}, "seconds"),
        ({"size": "640x480"}, "size"),  # 4:3
        ({"size": "1280*720"}, "size"),
        ({"size": "32x18"}, "size"),  # 16:9 but below 64 px a side
        ({"size": "8192x4608"}, "size"),  # 16:9 but above 4096 px a side
        ({"model": "sora-3"}, "model"),
        ({"model": ""}, "model"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 2501}, "prompt"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_refusals_are_bad_request_errors_naming_the_field(oai: openai.OpenAI, client: TestClient, fields: dict,
                                                           field: str) -> None:
    before = task_count(client)
    body = {"prompt": "a drummer", **fields}
    with pytest.raises(openai.BadRequestError) as caught:
        oai.videos.create(**{k: v for k, v in body.items() if k in ("prompt", "model", "seconds", "size")},
                          extra_body={k: v for k, v in body.items() if k not in ("prompt", "model", "seconds", "size")})
    err = caught.value
    assert err.status_code == 400 and err.code == "invalid_request_body"
    assert err.param == field
    assert err.body["message"].startswith(f"{field}: ") and err.body["message"] in err.message  # type: ignore[index]
    assert task_count(client) == before


@embedded_only
def test_size_refusal_lists_the_sizes_we_serve(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.videos.create(prompt="x", size="640x480")  # type: ignore[arg-type]
    message = caught.value.body["message"]  # type: ignore[index]
    for size in ("1280x720", "1792x1024", "720x1280", "1024x1792", "1024x1024", "16:9", "9:16", "1:1"):
        assert size in message
    assert '"640x480"' in message


@embedded_only
@pytest.mark.parametrize(("body", "field"), [({"prompt": "x", "seconds": 4.0}, "seconds"),
                                             ({"prompt": "x", "seconds": True}, "seconds"),
                                             ({"prompt": "x", "size": 1280}, "size"),
                                             ({"prompt": 5}, "prompt"),
                                             ({"seconds": "4"}, "prompt"),
                                             ({"prompt": "x", "cfg_scale": 2}, "cfg_scale")])
def test_json_type_errors_name_the_field(client: TestClient, body: dict, field: str) -> None:
    assert_error(client.post(VIDEOS, json=body, headers=AUTH_A), 400, "INVALID_REQUEST_BODY", field)
    assert task_count(client) == 0


def test_reference_images_are_refused(oai: openai.OpenAI, client: TestClient) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.videos.create(prompt="x", input_reference=("ref.png", io.BytesIO(b"\x89PNG"), "image/png"))
    assert caught.value.param == "input_reference"
    assert task_count(client) == 0


@embedded_only
def test_bodies_that_are_not_json_or_a_form(client: TestClient) -> None:
    assert_error(client.post(VIDEOS, content=b"prompt=x", headers={**AUTH_A, "Content-Type": "text/plain"}), 415,
                 "UNSUPPORTED_MEDIA_TYPE", "Content-Type")
    assert_error(client.post(VIDEOS, content=b"{", headers={**AUTH_A, "Content-Type": "application/json"}), 400,
                 "INVALID_REQUEST_BODY", "body")
    assert_error(client.post(VIDEOS, json=["x"], headers=AUTH_A), 400, "INVALID_REQUEST_BODY", "body")
    assert_error(client.post(VIDEOS, data={"prompt": "x", "seconds": "20"}, headers=AUTH_A), 400,
                 "INVALID_REQUEST_BODY", "seconds")  # url-encoded forms too
    assert_error(client.post(VIDEOS, files=[("prompt", (None, "a")), ("prompt", (None, "b"))], headers=AUTH_A), 400,
                 "INVALID_REQUEST_BODY", "prompt")  # a field given twice
    assert_error(client.post(VIDEOS, files={"prompt": ("p.txt", b"a fox", "text/plain")}, headers=AUTH_A), 400,
                 "INVALID_REQUEST_BODY", "prompt")  # a file where text belongs
    assert_error(client.post(VIDEOS, content=b"x" * 70_000, headers={**AUTH_A, "Content-Type": "multipart/form-data"}),
                 413, "PAYLOAD_TOO_LARGE", "body")
    assert task_count(client) == 0


def test_idempotency_key_works_as_on_the_kling_route(oai: openai.OpenAI, client: TestClient) -> None:
    first = oai.videos.create(prompt="a fox", extra_headers={"Idempotency-Key": "k-1"})
    again = oai.videos.create(prompt="a fox", extra_headers={"Idempotency-Key": "k-1"})
    assert again.id == first.id and task_count(client) == 1
    with pytest.raises(openai.ConflictError) as caught:
        oai.videos.create(prompt="a wolf", extra_headers={"Idempotency-Key": "k-1"})
    assert caught.value.param == "Idempotency-Key"


def test_queue_quota_is_the_keys(client: TestClient, oai: openai.OpenAI) -> None:
    client.app.state.service.settings.max_queued_per_key = 2
    oai.videos.create(prompt="a")
    oai.videos.create(prompt="b")
    with pytest.raises(openai.RateLimitError) as caught:
        oai.videos.create(prompt="c")
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    assert task_count(client) == 2


# ------------------------------------------------------------------------------------------ keys, ids


def test_wrong_or_missing_key_is_an_authentication_error(client: TestClient) -> None:
    with openai_client(client, key="not-a-key") as bad:
        for call in (lambda: bad.videos.create(prompt="x"), lambda: bad.videos.list(),
                     lambda: bad.videos.retrieve("00000000-0000-0000-0000-000000000000")):
            with pytest.raises(openai.AuthenticationError) as caught:
                call()
            assert caught.value.code == "unauthorized"
            assert caught.value.param == "Authorization"
    assert_error(client.get(VIDEOS), 401, "UNAUTHORIZED", "Authorization")
    assert task_count(client) == 0


def test_another_keys_video_is_not_found(client: TestClient, oai: openai.OpenAI) -> None:
    video = oai.videos.create(prompt="mine")
    with openai_client(client, key=KEY_B) as other:
        for call in (lambda: other.videos.retrieve(video.id), lambda: other.videos.delete(video.id),
                     lambda: other.videos.download_content(video.id)):
            with pytest.raises(openai.NotFoundError) as caught:
                call()
            assert caught.value.param == "video_id"
        assert [v.id for v in other.videos.list()] == []
    with pytest.raises(openai.NotFoundError):
        oai.videos.retrieve("no-such-id")
    assert stored(client, video.id).status is TaskStatus.QUEUED


def test_the_same_task_in_both_apis(client: TestClient, oai: openai.OpenAI) -> None:
    video = oai.videos.create(prompt="a fox", size="1792x1024", seconds="12")
    result = client.get(RESULT, params={"task_id": video.id}, headers=AUTH_A).json()
    assert result["task"]["status"] == "TASK_STATUS_QUEUED"
    kling_id = client.post(CREATE, json={"prompt": "a wolf", "aspect_ratio": "9:16", "duration": 6},
                           headers=AUTH_A).json()["task_id"]
    kling = oai.videos.retrieve(kling_id)
    assert (kling.model, kling.size, kling.seconds, kling.prompt) == ("kling-v3.0-pro", "720x1280", "6", "a wolf")
    assert kling.status == "queued"


# --------------------------------------------------------------------------------------------- list


def test_list_pages_newest_first_and_oldest_first(client: TestClient, oai: openai.OpenAI) -> None:
    mine = [oai.videos.create(prompt=f"video {i}").id for i in range(5)]
    client.post(VIDEOS, json={"prompt": "not mine"}, headers=AUTH_B)
    page = oai.videos.list(limit=2)
    assert [v.id for v in page.data] == mine[::-1][:2] and page.has_more and page.last_id == mine[3]
    assert [v.id for v in oai.videos.list(limit=2)] == mine[::-1]  # the client follows `after` itself
    assert [v.id for v in oai.videos.list(limit=3, order="asc")] == mine
    last = oai.videos.list(after=mine[1], limit=10)
    assert [v.id for v in last.data] == [mine[0]] and last.has_more is False
    raw = client.get(VIDEOS, params={"limit": 2}, headers=AUTH_A).json()
    assert (raw["object"], raw["first_id"], raw["last_id"]) == ("list", mine[4], mine[3])


@embedded_only
@pytest.mark.parametrize(("params", "field"), [({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                                               ({"limit": "many"}, "limit"), ({"order": "up"}, "order"),
                                               ({"after": "nope"}, "after")])
def test_list_refuses_bad_parameters(client: TestClient, params: dict, field: str) -> None:
    assert_error(client.get(VIDEOS, params=params, headers=AUTH_A), 400, "INVALID_REQUEST_BODY", field)


def test_list_after_another_keys_video_is_refused(client: TestClient) -> None:
    theirs = client.post(VIDEOS, json={"prompt": "b"}, headers=AUTH_B).json()["id"]
    assert_error(client.get(VIDEOS, params={"after": theirs}, headers=AUTH_A), 400, "INVALID_REQUEST_BODY", "after")


# ------------------------------------------------------------------------------------ retrieve, status


def test_statuses_progress_and_errors(client: TestClient, oai: openai.OpenAI) -> None:
    tasks = client.app.state.service.tasks
    video = oai.videos.create(prompt="a fox")
    raw = client.get(f"{VIDEOS}/{video.id}", headers=AUTH_A)
    assert 250 <= int(raw.headers["openai-poll-after-ms"]) <= 5000  # the client's poll() honours it
    assert tasks.claim(video.id, "test-worker", 30) is not None
    tasks.set_progress(video.id, "test-worker", 40)
    running = oai.videos.retrieve(video.id)
    assert (running.status, running.progress, running.completed_at) == ("in_progress", 40, None)
    assert tasks.fail(video.id, "out of memory at 1280x720, 15 s: try a shorter duration", owned_by="test-worker")
    failed = oai.videos.retrieve(video.id)
    assert failed.status == "failed" and failed.completed_at is not None and failed.error is not None
    assert (failed.error.code, failed.error.message) == ("generation_failed",
                                                         "out of memory at 1280x720, 15 s: try a shorter duration")
    assert "openai-poll-after-ms" not in client.get(f"{VIDEOS}/{video.id}", headers=AUTH_A).headers
    canceled = oai.videos.create(prompt="a wolf")
    client.post(f"/v3/async/tasks/{canceled.id}/cancel", headers=AUTH_A)
    got = oai.videos.retrieve(canceled.id)
    assert got.status == "failed" and got.error is not None and got.error.code == "canceled"


# ------------------------------------------------------------------------------------ delete, content


def complete(client: TestClient, task_id: str, data: bytes, tmp_path: Path) -> None:
    """Finish a task as a worker would: the file into storage, then SUCCEED with its key."""
    service = client.app.state.service
    src = tmp_path / f"{task_id}.mp4"
    src.write_bytes(data)
    assert service.tasks.claim(task_id, "test-worker", 30) is not None
    key = service.storage.save(task_id, src)
    assert service.tasks.succeed(task_id, owned_by="test-worker", result_key=key)


def test_content_is_the_stored_file_with_ranges(client: TestClient, oai: openai.OpenAI, tmp_path: Path) -> None:
    video = oai.videos.create(prompt="a fox")
    with pytest.raises(openai.NotFoundError) as caught:
        oai.videos.download_content(video.id)
    assert "not completed" in caught.value.body["message"]  # type: ignore[index]
    data = bytes(range(256)) * 40
    complete(client, video.id, data, tmp_path)
    done = oai.videos.retrieve(video.id)
    assert (done.status, done.progress) == ("completed", 100) and done.completed_at is not None
    with pytest.raises(openai.BadRequestError) as caught:
        oai.videos.download_content(video.id, variant="thumbnail")
    assert caught.value.param == "variant"
    if client.app.state.settings.storage == "s3":
        # Object storage: a redirect to a presigned GET; the bytes and ranges come from the store.
        r = client.get(f"{VIDEOS}/{video.id}/content", headers=AUTH_A, follow_redirects=False)
        assert r.status_code == 307
        assert httpx.get(r.headers["location"], timeout=30).content == data
        ranged = httpx.get(r.headers["location"], headers={"Range": "bytes=10-19"}, timeout=30)
    else:
        assert oai.videos.download_content(video.id, variant="video").content == data
        ranged = client.get(f"{VIDEOS}/{video.id}/content", headers={**AUTH_A, "Range": "bytes=10-19"})
        assert ranged.headers["content-type"] == "video/mp4"
        assert_error(client.get(f"{VIDEOS}/{video.id}/content", headers={**AUTH_A, "Range": "bytes=99999-"}),
                     416, "INVALID_REQUEST_BODY", "Range")
    assert ranged.status_code == 206 and ranged.content == data[10:20]


def test_delete_removes_the_row_and_the_file(client: TestClient, oai: openai.OpenAI, tmp_path: Path) -> None:
    service = client.app.state.service
    video = oai.videos.create(prompt="a fox")
    complete(client, video.id, b"mp4 bytes", tmp_path)
    key = stored(client, video.id).result_key
    assert service.storage.locate(key, 60) is not None
    deleted = oai.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    assert service.storage.locate(key, 60) is None
    with pytest.raises(openai.NotFoundError):
        oai.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        oai.videos.delete(video.id)
    assert_error(client.get(RESULT, params={"task_id": video.id}, headers=AUTH_A), 404, "NOT_FOUND", "task_id")
    assert task_count(client) == 0


def test_delete_cancels_a_queued_video_and_refuses_a_running_one(client: TestClient, oai: openai.OpenAI) -> None:
    tasks = client.app.state.service.tasks
    queued = oai.videos.create(prompt="a fox")
    assert oai.videos.delete(queued.id).deleted
    assert tasks.get(queued.id) is None and tasks.claim(queued.id, "test-worker", 30) is None  # never starts
    running = oai.videos.create(prompt="a wolf")
    assert tasks.claim(running.id, "test-worker", 30) is not None
    with pytest.raises(openai.ConflictError) as caught:
        oai.videos.delete(running.id)
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert caught.value.param == "video_id"
    assert caught.value.body["metadata"] == {"status": "in_progress"}  # type: ignore[index]
    after = tasks.get(running.id)
    assert after is not None and after.status is TaskStatus.PROCESSING and not after.cancel_requested


def test_openapi_documents_the_v1_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/videos", "/v1/videos/{video_id}", "/v1/videos/{video_id}/content"} <= set(paths)
    create = paths["/v1/videos"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert "seconds" in create["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert "422" not in create["responses"] and "400" in create["responses"]
