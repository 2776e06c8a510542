"""The playground in headless Chromium against a real `shotline serve` (tiny engine): fill the form,
watch the progress, play the video; the server's field errors appear next to the fields they name."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.helpers.server import AUTH_A, KEY_A, LiveServer
from tests.web.conftest import HOW_TO_INSTALL

try:
    from playwright.sync_api import expect
except ImportError as missing:  # a failure that says what to do, never a skip
    raise ImportError(HOW_TO_INSTALL) from missing

FPS = 24  # the tiny engine's frame rate
TASKS = "/v3/async/tasks"

# Every text the progress line shows, in order, recorded in the page (fast tasks skip past any poll).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
RECORD_PROGRESS = """() => {
  window.__progress = [];
  const line = document.querySelector('#progress-text');
  new MutationObserver(() => {
    const last = window.__progress[window.__progress.length - 1];
    if (line.textContent && line.textContent !== last) window.__progress.push(line.textContent);
  }).observe(line, {childList: true, characterData: true, subtree: true});
}"""
# readyState 2 (HAVE_CURRENT_DATA) or more: a decoded frame is on screen, not only the metadata.
PLAYING = "() => { const v = document.querySelector('#video'); return v.readyState >= 2 && !v.paused && v.currentTime > 0; }"
VIDEO_FACTS = """() => { const v = document.querySelector('#video');
  return {duration: v.duration, width: v.videoWidth, height: v.videoHeight, src: v.currentSrc}; }"""


def open_page(page: Any, server: LiveServer, key: str = KEY_A) -> None:
    page.goto(server.base_url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")


def task_ids(server: LiveServer) -> list[str]:
    with server.client(AUTH_A) as http:
        return [t["task"]["task_id"] for t in http.get(TASKS, params={"limit": 100}).json()["tasks"]]


def test_fill_submit_watch_progress_and_play(page: Any, live_server: LiveServer) -> None:
    open_page(page, live_server)
    page.get_by_label("Prompt", exact=True).fill("A lighthouse at dusk, waves crashing on the rocks")
    page.get_by_label("Duration").fill("3")
    page.get_by_role("radio", name=re.compile("9:16")).check()
    page.get_by_role("switch", name="Sound").check()
    slider = page.get_by_label("Prompt adherence")
    slider.focus()
    for _ in range(4):
        slider.press("ArrowRight")
    expect(page.locator("#cfg-value")).to_have_text("0.70")
    page.get_by_label("Negative prompt").fill("blurry")
    page.evaluate(RECORD_PROGRESS)
    with page.expect_request(lambda r: r.method == "POST" and "kling-v3.0-pro-t2v" in r.url) as sent:
        page.get_by_role("button", name="Generate").click()
    assert sent.value.post_data_json == {
        "prompt": "A lighthouse at dusk, waves crashing on the rocks", "duration": 3, "cfg_scale": 0.7,
        "aspect_ratio": "9:16", "sound": True, "negative_prompt": "blurry",
    }

    page.wait_for_function(PLAYING, timeout=120_000)
    video = page.evaluate(VIDEO_FACTS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)  # what a user sees, for review
    assert abs(video["duration"] - 3) <= 1.5 / FPS, video
    assert video["height"] > video["width"] > 0, video  # 9:16 is portrait
    expect(page.locator("#status-badge")).to_have_text("Done")
    expect(page.locator("#progress")).to_have_attribute("data-percent", "100")

    seen = page.evaluate("() => window.__progress")
    percents = [int(re.search(r"(\d+)%", text).group(1)) for text in seen]
    assert seen[0].startswith("Queued · 0%") and seen[-1] == "Done · 100%", seen
    assert percents == sorted(percents) and len(set(percents)) >= 2, seen

    # The sound switch reached the server: the file the page plays carries an audio track.
    body = httpx.get(video["src"], timeout=30).content
    with av.open(io.BytesIO(body)) as mp4:
        assert len(mp4.streams.audio) == 1 and len(mp4.streams.video) == 1

    task_id = page.locator("#task-id").inner_text()
    entry = page.locator(f'#history-list li[data-task-id="{task_id}"]')
    expect(entry).to_have_attribute("data-status", "TASK_STATUS_SUCCEED")
    expect(entry).to_contain_text("A lighthouse at dusk")
    expect(page.locator("#history-list li").first).to_have_attribute("data-task-id", task_id)  # newest first

    # The key stays in the browser: after a reload the history loads by itself.
    page.reload()
    expect(page.get_by_label("API key")).to_have_value(KEY_A)
    expect(page.locator(f'#history-list li[data-task-id="{task_id}"]')).to_be_visible()


def test_multi_shot_total_is_warned_then_judged_by_the_server(page: Any, live_server: LiveServer) -> None:
    before = task_ids(live_server)
    open_page(page, live_server)
    page.get_by_role("radio", name="Multi-shot").check()
    page.get_by_label("Shot 1 prompt").fill("a door opens")
    page.get_by_label("Shot 1 seconds").fill("2")
    page.get_by_label("Shot 2 prompt").fill("a cat walks in")
    page.get_by_label("Shot 2 seconds").fill("2")
    page.get_by_label("Duration").fill("5")
    total = page.locator("#shot-total")
    expect(total).to_have_attribute("data-state", "warn")
    expect(total).to_contain_text("add up to 4 s, but duration is 5 s")

    page.get_by_role("button", name="Generate").click()  # the page warns but lets the server judge
    error = page.locator('[data-error-for="multi_prompt"]')
    expect(error).to_have_text("shot durations add up to 4 s but `duration` is 5 s; make them equal")
    assert task_ids(live_server) == before  # refused: nothing queued

    # Fix the total and the running line agrees; a shot of 0 s is named down to the shot's own field.
    page.get_by_label("Shot 2 seconds").fill("3")
    expect(total).to_have_attribute("data-state", "ok")
    expect(error).to_be_empty()
    page.get_by_label("Shot 2 seconds").fill("0")
    page.get_by_label("Shot 1 seconds").fill("5")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator('[data-error-for="multi_prompt[1].duration"]')).to_have_text("must be at least 1, got 0")
    expect(page.get_by_label("Shot 2 seconds")).to_have_attribute("aria-invalid", "true")
    assert task_ids(live_server) == before


@pytest.mark.parametrize(
    ("label", "value", "field", "message"),
    [
        ("Seed", "-1", "extra.seed", "must be between 0 and 4294967295, got -1"),
        ("Duration", "20", "duration", "must be between 3 and 15, got 20"),
    ],
)
def test_a_bad_value_is_named_next_to_its_field(page: Any, live_server: LiveServer, label: str, value: str,
                                                field: str, message: str) -> None:
    open_page(page, live_server)
    page.get_by_label("Prompt", exact=True).fill("a red kite over a beach")
    page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(f'[data-error-for="{field}"]')).to_have_text(message)
    expect(page.locator(f'[data-field="{field}"]')).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-error")).to_be_hidden()
    expect(page.locator("#task-view")).to_be_hidden()


def test_an_unknown_key_is_named_next_to_the_key(page: Any, live_server: LiveServer) -> None:
    open_page(page, live_server, key="not-a-real-key")
    page.get_by_label("Prompt", exact=True).fill("a red kite over a beach")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator('[data-error-for="Authorization"]')).to_have_text("unknown or revoked API key")
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#task-view")).to_be_hidden()


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with no worker: its tasks stay queued, so what the page shows before the end is certain."""
    server = LiveServer(tmp_path_factory.mktemp("idle") / "data", SHOTLINE_EMBEDDED_WORKER="false")
    server.start(wait_ready=False)
    yield server
    server.stop()


def test_cancel_a_queued_task_from_the_page(page: Any, idle_server: LiveServer) -> None:
    open_page(page, idle_server)
    page.get_by_label("Prompt", exact=True).fill("a paper boat on a puddle")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#status-badge")).to_have_text("Queued")
    expect(page.locator("#progress-text")).to_contain_text(re.compile(r"Queued · 0% · about \d+ s left"))
    task_id = page.locator("#task-id").inner_text()
    expect(page.locator(f'#history-list li[data-task-id="{task_id}"]')).to_have_attribute(
        "data-status", "TASK_STATUS_QUEUED")

    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator("#status-badge")).to_have_text("Canceled")
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_be_hidden()
    expect(page.locator(f'#history-list li[data-task-id="{task_id}"]')).to_have_attribute(
        "data-status", "TASK_STATUS_CANCELED")
    with idle_server.client(AUTH_A) as http:
        assert http.get("/v3/async/task-result", params={"task_id": task_id}).json()["task"]["status"] == (
            "TASK_STATUS_CANCELED")


def test_history_pages_back_through_older_tasks(page: Any, idle_server: LiveServer) -> None:
    with idle_server.client(AUTH_A) as http:
        for n in range(11):
            assert http.post("/v3/async/kling-v3.0-pro-t2v", json={"prompt": f"task {n}"}).status_code == 200
    newest_first = task_ids(idle_server)
    open_page(page, idle_server)
    rows = page.locator("#history-list li")
    expect(rows).to_have_count(10)
    # Wait on the condition itself (the older page fetched and drawn), under the context's action timeout,
    # not on `expect`'s 5 s: on a loaded machine the fetch alone has taken longer (seen: 10 of 12 after 5 s).
    with page.expect_response(lambda r: "/v3/async/tasks" in r.url and "cursor=" in r.url):
        page.get_by_role("button", name="Older tasks").click()
    page.wait_for_function("n => document.querySelectorAll('#history-list li').length >= n",
                           arg=len(newest_first))
    assert [rows.nth(i).get_attribute("data-task-id") for i in range(rows.count())] == newest_first
    expect(page.get_by_role("button", name="Older tasks")).to_be_hidden()
    # A history entry opens that task in the result panel.
    rows.nth(3).get_by_role("button").click()
    expect(page.locator("#task-id")).to_have_text(newest_first[3])
