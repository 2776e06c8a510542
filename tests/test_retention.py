"""Retention: videos and task rows expire (`shotline gc`, and workers periodically). After a video
expires its task answers SUCCEED with no video and says why, and an earlier link answers 404; after
the task expires it is a 404 like an id that never existed. Queued tasks never expire. Both backends,
the CLI as a real process, and a live server whose worker collects on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from shotline.retention import collect_garbage
from tests.helpers.api import NOBODY, VIDEO, assert_error, create, finish
from tests.helpers.server import AUTH_A, RESULT, LiveServer, wait_terminal

TASKS = "/v3/async/tasks"


def result(client, task_id: str):
    return client.get(RESULT, params={"task_id": task_id}, headers=AUTH_A)


def gc_at(client: TestClient, seconds_ahead: float):
    service = client.app.state.service
    now = int((time.time() + seconds_ahead) * 1000)
    return collect_garbage(client.app.state.settings, service.tasks, service.storage, now_ms=now)


def link_path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_results_then_tasks_expire(client: TestClient) -> None:
    settings = client.app.state.settings
    done, waiting, canceled = create(client), create(client), create(client)
    finish(client, done)
    assert client.post(f"{TASKS}/{canceled}/cancel", headers=AUTH_A).status_code == 200
    key = client.app.state.service.tasks.get(done).result_key
    link = link_path(result(client, done).json()["videos"][0]["video_url"])
    assert client.get(link, follow_redirects=False).status_code in (200, 307)

    # Not yet: nothing changes a second before the result's time.
    assert gc_at(client, settings.result_ttl_s - 1).as_dict() == {"results_deleted": 0, "tasks_deleted": 0,
                                                                  "orphans_deleted": 0}
    report = gc_at(client, settings.result_ttl_s + 1)
    assert report.results_deleted == 1 and report.tasks_deleted == 0
    body = result(client, done).json()
    assert body["task"]["status"] == "TASK_STATUS_SUCCEED"  # terminal statuses never change
    assert body["videos"] == [] and "deleted" in body["extra"]["result_expired"]
    assert_error(client.get(link, follow_redirects=False), 404, "NOT_FOUND", "task_id")  # not a 500
    assert client.app.state.service.storage.locate(key, 60) is None
    assert gc_at(client, settings.result_ttl_s + 1).results_deleted == 0  # idempotent

    report = gc_at(client, settings.task_ttl_s + 1)
    assert report.tasks_deleted == 2  # the finished and the canceled task; the queued one stays
    nothing = result(client, NOBODY).json()
    for gone in (done, canceled):
        r = result(client, gone)
        assert_error(r, 404, "NOT_FOUND", "task_id")
        assert r.json() == nothing
    assert result(client, waiting).json()["task"]["status"] == "TASK_STATUS_QUEUED"
    listed = client.get(TASKS, headers=AUTH_A).json()
    assert [t["task"]["task_id"] for t in listed["tasks"]] == [waiting]
    assert_error(client.get(link, follow_redirects=False), 404, "NOT_FOUND", "task_id")


def test_orphaned_files_are_swept_only_when_old(client: TestClient, tmp_path: Path) -> None:
    storage = client.app.state.service.storage
    src = tmp_path / "orphan.mp4"
    src.write_bytes(VIDEO)
    key = storage.save(str(uuid.uuid4()), src)  # a file no task names (a crash between the two steps)
    assert gc_at(client, 0).orphans_deleted == 0  # young: it may be a worker's, not yet recorded
    assert storage.locate(key, 60) is not None
    assert gc_at(client, client.app.state.settings.result_ttl_s + 5).orphans_deleted == 1
    assert storage.locate(key, 60) is None


def test_shotline_gc_command(tmp_path: Path) -> None:
    from shotline.api.app import create_app
    from shotline.config import Settings

    data = tmp_path / "data"
    settings = Settings(data_dir=data, api_keys=["test-key-a"], embedded_worker=False, _env_file=None)
    with TestClient(create_app(settings)) as client:
        task_id = create(client)
        finish(client, task_id)
        env = {**os.environ, "SHOTLINE_DATA_DIR": str(data), "SHOTLINE_RESULT_TTL_S": "60",
               "SHOTLINE_TASK_TTL_S": "120"}
        run = [sys.executable, "-m", "shotline", "gc"]
        first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout) == {"results_deleted": 0, "tasks_deleted": 0, "orphans_deleted": 0}
        ahead = subprocess.run([*run, "--ahead-s", "61"], env=env, capture_output=True, text=True, timeout=120)
        assert json.loads(ahead.stdout)["results_deleted"] == 1, ahead.stderr
        assert "1 expired video" in ahead.stderr
        assert result(client, task_id).json()["videos"] == []
        later = subprocess.run([*run, "--ahead-s", "121"], env=env, capture_output=True, text=True, timeout=120)
        assert json.loads(later.stdout)["tasks_deleted"] == 1
        assert result(client, task_id).status_code == 404


def test_a_running_server_expires_on_its_own(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", SHOTLINE_RESULT_TTL_S="8", SHOTLINE_TASK_TTL_S="16",
                        SHOTLINE_GC_INTERVAL_S="0.5").start()
    try:
        with server.client() as http:
            task_id = http.post("/v3/async/kling-v3.0-pro-t2v", json={"prompt": "a brief clip", "duration": 3,
                                                                      "aspect_ratio": "1:1"}).json()["task_id"]
            body = wait_terminal(http, task_id)
            assert body["task"]["status"] == "TASK_STATUS_SUCCEED", body
            url = body["videos"][0]["video_url"]
            assert httpx.get(url).content[4:8] == b"ftyp"
            seen = []
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                r = http.get(RESULT, params={"task_id": task_id})
                state = "gone" if r.status_code == 404 else ("expired" if not r.json()["videos"] else "kept")
                if not seen or seen[-1] != state:
                    seen.append(state)
                    if state == "expired":
                        assert httpx.get(url).status_code == 404
                if state == "gone":
                    break
                time.sleep(0.2)
            assert seen == ["kept", "expired", "gone"], seen
            assert httpx.get(url).status_code == 404
    finally:
        server.stop()
