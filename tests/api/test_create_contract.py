"""Contract §1 and §5: every field, default and range of the create endpoint, and every refusal in the
one error shape, naming the field, with nothing queued."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.helpers.api import OK, assert_error, task_count
from tests.helpers.server import AUTH_A, CREATE


def stored_request(client: TestClient, task_id: str) -> dict:
    task = client.app.state.service.tasks.get(task_id)
    return task.request.model_dump()


def test_defaults_are_the_contracts(client: TestClient) -> None:
    r = client.post(CREATE, json=OK, headers=AUTH_A)
    assert r.status_code == 200 and set(r.json()) == {"task_id"}
    req = stored_request(client, r.json()["task_id"])
    assert req["duration"] == 5 and req["cfg_scale"] == 0.5 and req["aspect_ratio"] == "16:9"
    assert req["sound"] is False and req["negative_prompt"] == ""
    assert [s["prompt"] for s in req["shots"]] == [OK["prompt"]]


@pytest.mark.parametrize(
    "body",
    [
        {**OK, "duration": 3},
        {**OK, "duration": 15},
        {"prompt": "x" * 2500},
        {**OK, "negative_prompt": "x" * 2500},
        {**OK, "negative_prompt": ""},
        {**OK, "cfg_scale": 0},
        {**OK, "cfg_scale": 1},
        {**OK, "cfg_scale": 0.25},
        {**OK, "aspect_ratio": "9:16"},
        {**OK, "aspect_ratio": "1:1"},
        {**OK, "sound": True},
        {**OK, "extra": {"seed": 0}},
        {**OK, "extra": {"seed": 4294967295}},
        {"prompt": "", "multi_prompt": [{"prompt": "a"}]},  # an empty prompt counts as absent
        {"multi_prompt": [{"prompt": "a", "duration": 1}, {"prompt": "b", "duration": 2}]},  # total 3 from shots
        {"multi_prompt": [{"prompt": "a", "index": 1}, {"prompt": "b", "index": 2}], "duration": 15},
        {"multi_prompt": [{"prompt": f"shot {i}"} for i in range(6)], "duration": 6},
        {"prompt": "雪の中を走る赤い狐 🦊" * 100},  # 1300 characters, more bytes: limits count characters
    ],
)
def test_accepted_boundaries(client: TestClient, body: dict) -> None:
    r = client.post(CREATE, json=body, headers=AUTH_A)
    assert r.status_code == 200, r.text


def test_shot_durations_are_resolved(client: TestClient) -> None:
    r = client.post(CREATE, headers=AUTH_A, json={
        "multi_prompt": [{"prompt": "a"}, {"prompt": "b", "duration": 2}, {"prompt": "c"}], "duration": 7})
    req = stored_request(client, r.json()["task_id"])
    assert req["duration"] == 7
    assert [s["duration"] for s in req["shots"]] == [None, 2, None]  # the open ones share 5 s, frame-exact
    r = client.post(CREATE, headers=AUTH_A, json={"multi_prompt": [{"prompt": "a", "duration": 4},
                                                                    {"prompt": "b", "duration": 5}]})
    assert stored_request(client, r.json()["task_id"])["duration"] == 9


BAD = [
    # (body, status, reason, field, words the message must contain)
    ({**OK, "duration": 2}, 400, "INVALID_REQUEST_BODY", "duration", ["3", "15", "2"]),
    ({**OK, "duration": 16}, 400, "INVALID_REQUEST_BODY", "duration", ["3", "15", "16"]),
    ({**OK, "duration": "5"}, 400, "INVALID_REQUEST_BODY", "duration", ["integer", "string"]),
    ({**OK, "duration": 5.5}, 400, "INVALID_REQUEST_BODY", "duration", ["integer"]),
    ({"prompt": "x" * 2501}, 400, "INVALID_REQUEST_BODY", "prompt", ["2500", "2501"]),
    ({**OK, "multi_prompt": [{"prompt": "a"}]}, 400, "INVALID_REQUEST_BODY", "multi_prompt", ["not both"]),
    ({}, 400, "INVALID_REQUEST_BODY", "prompt", ["required"]),
    ({"prompt": ""}, 400, "INVALID_REQUEST_BODY", "prompt", ["required"]),
    ({"multi_prompt": [{"prompt": "a"}] * 7, "duration": 7}, 400, "INVALID_REQUEST_BODY", "multi_prompt", ["1–6", "7"]),
    ({"multi_prompt": []}, 400, "INVALID_REQUEST_BODY", "multi_prompt", ["1–6", "0"]),
    ({"multi_prompt": [{"prompt": "a", "duration": 0}, {"prompt": "b", "duration": 4}]}, 400,
     "INVALID_REQUEST_BODY", "multi_prompt[0].duration", ["at least 1", "0"]),
    ({"multi_prompt": [{"prompt": "a", "duration": 2}, {"prompt": "b", "duration": 2}], "duration": 5}, 400,
     "INVALID_REQUEST_BODY", "multi_prompt", ["4 s", "5 s"]),
    ({"multi_prompt": [{"prompt": "a", "duration": 10}, {"prompt": "b", "duration": 6}]}, 400,
     "INVALID_REQUEST_BODY", "multi_prompt", ["16 s", "3", "15"]),
    ({"multi_prompt": [{"prompt": "a", "duration": 4}, {"prompt": "b"}], "duration": 4}, 400,
     "INVALID_REQUEST_BODY", "multi_prompt", ["0 s", "at least 1 s"]),
    ({"multi_prompt": [{"prompt": "a", "index": 2}]}, 400, "INVALID_REQUEST_BODY", "multi_prompt[0].index", ["1"]),
    ({"multi_prompt": [{"prompt": ""}]}, 400, "INVALID_REQUEST_BODY", "multi_prompt[0].prompt", ["1–2500"]),
    ({**OK, "cfg_scale": -0.1}, 400, "INVALID_REQUEST_BODY", "cfg_scale", ["0", "1", "-0.1"]),
    ({**OK, "cfg_scale": 1.01}, 400, "INVALID_REQUEST_BODY", "cfg_scale", ["0", "1", "1.01"]),
    ({**OK, "aspect_ratio": "4:3"}, 400, "INVALID_REQUEST_BODY", "aspect_ratio", ["16:9", "9:16", "1:1", "4:3"]),
    ({**OK, "negative_prompt": "x" * 2501}, 400, "INVALID_REQUEST_BODY", "negative_prompt", ["2500", "2501"]),
    ({**OK, "sound": "yes"}, 400, "INVALID_REQUEST_BODY", "sound", ["true or false"]),
    ({**OK, "promt": "typo"}, 400, "INVALID_REQUEST_BODY", "promt", ["not a known field", "prompt"]),
    ({**OK, "extra": {"sed": 1}}, 400, "INVALID_REQUEST_BODY", "extra.sed", ["not a known field", "seed"]),
    ({**OK, "extra": {"seed": -1}}, 400, "INVALID_REQUEST_BODY", "extra.seed", ["0", "4294967295"]),
    ({**OK, "extra": {"seed": 2**32}}, 400, "INVALID_REQUEST_BODY", "extra.seed", ["4294967295"]),
    ({"multi_prompt": [{"prompt": "a", "secs": 3}]}, 400, "INVALID_REQUEST_BODY", "multi_prompt[0].secs",
     ["not a known field"]),
]


@pytest.mark.parametrize(("body", "status", "reason", "field", "words"), BAD,
                         ids=[f"{i}-{b[3]}" for i, b in enumerate(BAD)])
def test_refused_bodies(client: TestClient, body: dict, status: int, reason: str, field: str, words: list[str]) -> None:
    before = task_count(client)
    body_out = assert_error(client.post(CREATE, json=body, headers=AUTH_A), status, reason, field)
    for word in words:
        assert word in body_out["message"], (word, body_out["message"])
    assert task_count(client) == before


@pytest.mark.parametrize(
    ("content", "headers", "status", "reason", "field"),
    [
        (b'{"prompt": "x",', {"Content-Type": "application/json"}, 400, "INVALID_REQUEST_BODY", "body"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "INVALID_REQUEST_BODY", "body"),
        (b'"just a string"', {"Content-Type": "application/json"}, 400, "INVALID_REQUEST_BODY", "body"),
        (b"", {"Content-Type": "application/json"}, 400, "INVALID_REQUEST_BODY", "body"),
        (json.dumps({"prompt": "x" * 1_000_000}).encode(), {"Content-Type": "application/json"}, 413,
         "PAYLOAD_TOO_LARGE", "body"),
        (b'{"prompt": "x"}', {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
        (b'{"prompt": "x"}', {"Content-Type": "application/x-www-form-urlencoded"}, 415, "UNSUPPORTED_MEDIA_TYPE",
         "Content-Type"),
        (b'{"prompt": "x"}', {}, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
    ],
    ids=["malformed", "array", "string", "empty", "1MB", "text-plain", "form", "no-content-type"],
)
def test_refused_raw_bodies(client: TestClient, content: bytes, headers: dict, status: int, reason: str,
                            field: str) -> None:
    before = task_count(client)
    r = client.post(CREATE, content=content, headers={**AUTH_A, **headers})
    assert_error(r, status, reason, field)
    assert task_count(client) == before


def test_chunked_body_over_the_limit_is_cut_off(client: TestClient) -> None:
    def chunks():
        for _ in range(64):
            yield b" " * 4096

    r = client.post(CREATE, content=chunks(), headers={**AUTH_A, "Content-Type": "application/json"})
    assert_error(r, 413, "PAYLOAD_TOO_LARGE", "body")


def test_charset_parameter_is_fine(client: TestClient) -> None:
    r = client.post(CREATE, content=json.dumps(OK).encode(),
                    headers={**AUTH_A, "Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200


def test_every_error_lists_all_fields(client: TestClient) -> None:
    r = client.post(CREATE, json={**OK, "duration": 99, "cfg_scale": 7, "aspect_ratio": "2:1"}, headers=AUTH_A)
    fields = {e["field"] for e in r.json()["metadata"]["errors"]}
    assert fields == {"duration", "cfg_scale", "aspect_ratio"}


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/v3/async/nope", headers=AUTH_A), 404, "NOT_FOUND", None)
    r = client.delete(CREATE, headers=AUTH_A)
    assert r.status_code == 405 and r.json()["code"] == 405 and "POST" in r.json()["message"]


def test_openapi_documents_the_models_and_no_422(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    create = doc["paths"][CREATE]["post"]
    assert "422" not in create["responses"] and "400" in create["responses"]
    schema = doc["components"]["schemas"]["CreateTaskRequest"]
    assert schema["additionalProperties"] is False
    duration = schema["properties"]["duration"]["anyOf"][0]
    assert duration["minimum"] == 3 and duration["maximum"] == 15
    assert "HTTPValidationError" not in doc["components"]["schemas"]
