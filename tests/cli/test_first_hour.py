"""What a new user sees in their first hour (issue 17, CLI and serve): commands run under a pseudo-terminal
where what matters is what the terminal shows (phases, one-line errors, no log lines in the bar)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import av
import pytest

from shotline.client import AsyncShotline, Shotline, Unauthorized
from tests.cli.terminal import SHOTLINE, TerminalRun, run_in_terminal
from tests.helpers.server import AUTH_A, CREATE, KEY_A, RESULT, LiveServer
from tests.helpers.services import free_port

TASKS = "/v3/async/tasks"

TRACEBACK = "Traceback"


def no_key_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SHOTLINE_")}


def shotline(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SHOTLINE, *args], env={**no_key_env(), "COLUMNS": "200", **(env or {})},
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def errors(run: TerminalRun) -> list[str]:
    return [line for line in run.lines if line.startswith("error:")]


# ------------------------------------------------------------------------------------------- item 1


def test_a_missing_key_is_exit_3_before_any_request() -> None:
    """No key: exit 3 at once, naming the fix; the server (here: nothing listening) is never contacted,
    which would have been exit 6 after three tries."""
    proc = shotline("tasks", "list", "--base-url", f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: no API key: pass --api-key KEY or set SHOTLINE_API_KEY (`shotline keys create` makes one)"]
    proc = shotline("generate", "x", "--base-url", f"http://127.0.0.1:{free_port()}", "-o", "/tmp/never.mp4")
    assert proc.returncode == 3 and "no API key" in proc.stderr and "cannot reach" not in proc.stderr


def test_the_sdk_refuses_to_start_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOTLINE_API_KEY", raising=False)
    for make in (lambda: Shotline("http://127.0.0.1:9"), lambda: AsyncShotline("http://127.0.0.1:9"),
                 lambda: Shotline("http://127.0.0.1:9", api_key="")):
        with pytest.raises(Unauthorized, match="SHOTLINE_API_KEY"):
            make()
    monkeypatch.setenv("SHOTLINE_API_KEY", "from-env")
    with Shotline("http://127.0.0.1:9") as client:  # found in the environment
        assert client._config.api_key == "from-env"


# ------------------------------------------------------------------------------------------- item 3, 4


def test_embedded_generate_shows_its_phases_and_no_logs(tmp_path: Path) -> None:
    """The README's main job at a terminal: each phase shown, no JSON log line or warning in the bar (they
    are in the data dir's log), -o a directory gets <task_id>.mp4 inside it."""
    run = run_in_terminal("generate", "a red fox runs through fresh snow", "--duration", "3", "--sound",
                          "-o", str(tmp_path), env={"SHOTLINE_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path,
                          columns=200)
    assert run.code == 0, run.text
    saved = list(tmp_path.glob("*.mp4"))
    assert len(saved) == 1 and re.fullmatch(r"[0-9a-f-]{36}\.mp4", saved[0].name)
    assert run.lines[-1] == str(saved[0])
    for phase in ("✓ starting embedded server", "✓ loading engine tiny", "✓ generating", "✓ saving"):
        assert any(line.startswith(phase) for line in run.lines), run.text
    assert "generating shot 1/1 · step" in run.every_frame  # the step, while it ran
    assert '{"' not in run.raw and "WARNING" not in run.raw and TRACEBACK not in run.raw
    log = (tmp_path / "data" / "logs" / "generate.log").read_text()
    assert '"logger": "shotline.worker"' in log or '"logger": "shotline' in log  # the logs went here instead
    with av.open(str(saved[0])) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]


@pytest.mark.parametrize(("args", "line"), [
    (["--duration", "20"], "error: duration: must be between 3 and 15, got 20"),
    (["--duration", "2.5"], "error: --duration: must be whole seconds between 3 and 15, got '2.5'"),
    (["--aspect-ratio", "4:3"], "error: aspect_ratio"),
    (["-o", "/nonexistent-dir/fox.mp4"], "error: -o: the directory /nonexistent-dir does not exist"),
])
def test_a_wrong_request_is_one_line_before_any_server_starts(tmp_path: Path, args: list[str], line: str) -> None:
    run = run_in_terminal("generate", "a fox", *args, env={"SHOTLINE_DATA_DIR": str(tmp_path / "data")},
                          cwd=tmp_path, timeout=60, columns=200)
    assert run.code == 2, run.text
    assert run.lines == errors(run) and len(run.lines) == 1 and run.lines[0].startswith(line), run.text
    assert not (tmp_path / "data").exists()  # no embedded server was started: nothing was written


def test_a_bad_command_line_is_one_line_too() -> None:
    for args in (["generate", "--bogus"], ["tasks", "show"], ["gc", "--ahead-s", "soon"]):
        run = run_in_terminal(*args, timeout=60, columns=200)
        assert run.code == 2 and len(run.lines) == 1 and run.lines[0].startswith("error: "), run.text


def test_save_failure_names_the_download_command(live_server: LiveServer, tmp_path: Path) -> None:
    """The video is made, then cannot be written: one line, exit 7, and how to get it from the server. As
    root (CI), /proc passes the up-front check (root may write anywhere) and refuses the file itself; as
    another user, a read-only directory is refused before anything is submitted (exit 2)."""
    root = os.geteuid() == 0
    if root:
        target = Path("/proc/shotline-test.mp4")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "x.mp4"
    run = run_in_terminal("generate", "a fox", "--duration", "3", "-o", str(target), env={
        "SHOTLINE_BASE_URL": live_server.base_url, "SHOTLINE_API_KEY": KEY_A}, timeout=300, columns=200)
    assert TRACEBACK not in run.raw
    (line,) = errors(run)
    if not root:
        assert run.code == 2 and "-o: cannot write into" in line
        return
    assert run.code == 7, run.text
    task_id = re.search(r"shotline tasks download ([0-9a-f-]{36}) -o PATH", line).group(1)
    assert line.startswith(f"error: could not save the video to {target}")
    with Shotline(live_server.base_url, KEY_A) as client:  # and that command's task has the video
        assert client.videos.retrieve(task_id).videos


def test_phases_from_the_servers_percent() -> None:
    """The worker counts steps + 1 units per shot and reports 99 % when all are done (worker.Progress)."""
    from shotline.cli.progress import Phases
    from shotline.client import TaskResultResponse

    def result(status: str, percent: int = 0, **extra: object) -> TaskResultResponse:
        return TaskResultResponse.model_validate({"task": {"task_id": "t", "status": f"TASK_STATUS_{status}",
                                                           "progress_percent": percent}, "extra": extra})

    two_shots = Phases(shots=2, steps=8)  # 18 units; the percent is int(99 * units / 18)
    assert two_shots.of(result("QUEUED", tasks_ahead=2)) == ("queued", "2 ahead")
    assert two_shots.of(result("QUEUED", tasks_ahead=0)) == ("queued", "")
    assert two_shots.of(result("PROCESSING", 0)) == ("generating", "shot 1/2 · step 1/8")
    assert two_shots.of(result("PROCESSING", 99 * 3 // 18)) == ("generating", "shot 1/2 · step 4/8")
    assert two_shots.of(result("PROCESSING", 99 * 8 // 18)) == ("encoding", "shot 1/2")
    assert two_shots.of(result("PROCESSING", 99 * 10 // 18)) == ("generating", "shot 2/2 · step 2/8")
    assert two_shots.of(result("PROCESSING", 99)) == ("encoding", "")
    assert Phases(shots=3).of(result("PROCESSING", 50)) == ("generating", "shot 2/3")  # steps unknown: remote


def test_the_api_says_how_many_are_ahead_and_what_each_task_was(client: Any) -> None:
    """What the CLI's phases and lists read: extra.tasks_ahead on a queued result, extra.request in lists."""
    ids = [client.post(CREATE, headers=AUTH_A, json={"prompt": f"queued {n}", "duration": 3 + n}).json()["task_id"]
           for n in range(3)]
    ahead = [client.get(RESULT, headers=AUTH_A, params={"task_id": i}).json()["extra"]["tasks_ahead"] for i in ids]
    assert ahead == [0, 1, 2]  # no worker here: all wait, in order
    client.post(CREATE, headers=AUTH_A, json={"multi_prompt": [{"prompt": "a clock shows 10:30", "duration": 1},
                                                              {"prompt": "b"}], "duration": 4, "aspect_ratio": "1:1"})
    listed = client.get(TASKS, headers=AUTH_A).json()["tasks"]
    assert listed[0]["extra"]["request"] == {
        "multi_prompt": [{"prompt": "a clock shows 10:30", "duration": 1}, {"prompt": "b"}], "duration": 4,
        "aspect_ratio": "1:1", "sound": False, "cfg_scale": 0.5, "negative_prompt": ""}
    assert listed[1]["extra"]["request"]["prompt"] == "queued 2"
    assert "request" not in client.get(RESULT, headers=AUTH_A, params={"task_id": ids[0]}).json()["extra"]


# ------------------------------------------------------------------------------------------- item 5


@pytest.fixture(scope="module")
def made(live_server: LiveServer) -> list[str]:
    with Shotline(live_server.base_url, KEY_A) as client:
        return [client.videos.create_and_poll(prompt=f"a clock shows 10:{m} in a quiet station hall", duration=3,
                                              aspect_ratio="9:16").task.task_id for m in ("30", "45")]


def test_list_at_80_columns_shows_whole_ids_and_the_request(live_server: LiveServer, made: list[str]) -> None:
    run = run_in_terminal("tasks", "list", "--limit", "50", env={"SHOTLINE_BASE_URL": live_server.base_url,
                                                                 "SHOTLINE_API_KEY": KEY_A}, columns=80)
    assert run.code == 0, run.text
    for task_id in made:
        row = next(line for line in run.lines if task_id in line)  # whole, never cut
        assert "succeed" in row and "3s" in row and "9:16" in row and "a clock shows" in row
        assert len(row) <= 80


def test_prefixes_work_in_show_download_cancel_and_delete(live_server: LiveServer, made: list[str],
                                                          tmp_path: Path) -> None:
    env = {"SHOTLINE_BASE_URL": live_server.base_url, "SHOTLINE_API_KEY": KEY_A}
    task_id = made[0]
    shown = shotline("tasks", "show", task_id[:8], "--json", env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["task"]["task_id"] == task_id
    saved = shotline("tasks", "download", task_id[:10], "-o", str(tmp_path), env=env)
    assert saved.returncode == 0 and saved.stdout.strip() == str(tmp_path / f"{task_id}.mp4")
    ended = shotline("tasks", "cancel", task_id[:8], env=env)  # already ended: exit 1, its own words
    assert ended.returncode == 1 and "already ended" in ended.stderr
    missing = shotline("tasks", "show", "ffffffff-ffff", env=env)
    assert missing.returncode == 4 and "no task of this key starts with" in missing.stderr
    deleted = shotline("tasks", "delete", task_id[:8], env=env)
    assert deleted.returncode == 0 and f"{task_id}: deleted" in deleted.stderr
    assert shotline("tasks", "show", task_id, env=env).returncode == 4  # gone


def test_delete_of_an_unknown_task_is_exit_4(live_server: LiveServer) -> None:
    env = {"SHOTLINE_BASE_URL": live_server.base_url, "SHOTLINE_API_KEY": KEY_A}
    assert shotline("tasks", "delete", str(uuid.uuid4()), env=env).returncode == 4


# ------------------------------------------------------------------------------------------- item 6


def test_a_prompt_with_a_time_in_it_stays_whole(live_server: LiveServer, tmp_path: Path) -> None:
    env = {"SHOTLINE_BASE_URL": live_server.base_url, "SHOTLINE_API_KEY": KEY_A}
    proc = shotline("generate", "--shot", "a clock shows 10:2", "--shot", "a clock shows 10:30",
                    "--shot-seconds", "1,auto", "--duration", "4", "--json", "-o", str(tmp_path / "c.mp4"),
                    env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    task_id = json.loads(proc.stdout)["result"]["task"]["task_id"]
    listed = json.loads(shotline("tasks", "list", "--json", "--limit", "100", env=env).stdout)["tasks"]
    request = next(t for t in listed if t["task"]["task_id"] == task_id)["extra"]["request"]
    assert request["multi_prompt"] == [{"prompt": "a clock shows 10:2", "duration": 1},
                                       {"prompt": "a clock shows 10:30"}]
    assert request["duration"] == 4


# ------------------------------------------------------------------------------------------- item 7


def test_version_and_help_read_like_a_unix_tool() -> None:
    from importlib.metadata import version

    assert shotline("--version").stdout.strip() == f"shotline {version('shotline')}"
    top = shotline("--help").stdout
    commands = [line.split()[0] for line in top.split("Commands:")[1].splitlines() if line.startswith("  ")]
    assert commands[:3] == ["generate", "serve", "tasks"]
    for args in (["generate"], ["serve"], ["tasks", "show"], ["tasks", "list"], ["keys", "create"],
                 ["keys", "list"], ["db", "upgrade"], ["gc"], ["worker"]):
        text = shotline(*args, "--help").stdout
        assert "<bool>" not in text and "(env " not in text, text
        if "SHOTLINE_" in text:
            assert "[env var: SHOTLINE_" in text
    assert "Usage: shotline tasks show [OPTIONS] TASK_ID" in shotline("tasks", "show", "--help").stdout
    assert "--database-url" in shotline("keys", "create", "--help").stdout
    assert "--database-url" in shotline("db", "upgrade", "--help").stdout


def test_keys_and_db_take_a_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert shotline("db", "upgrade", "--database-url", url).returncode == 0
    created = shotline("keys", "create", "--name", "ops", "--database-url", url)
    assert created.returncode == 0, created.stderr
    assert "ops" in shotline("keys", "list", "--database-url", url).stdout
    assert "ops" not in shotline("keys", "list", "--data-dir", str(tmp_path / "other")).stdout


# ------------------------------------------------------------------------------------------- item 2


def test_gc_dry_run_lists_and_deletes_nothing(live_server: LiveServer, made: list[str]) -> None:
    proc = shotline("gc", "--dry-run", "--ahead-s", str(10**9), "--data-dir", str(live_server.data_dir))
    assert proc.returncode == 0, proc.stderr
    preview = json.loads(proc.stdout)
    assert preview["dry_run"] is True and made[1] in preview["tasks"] and made[1] in preview["results"]
    assert "nothing was deleted" in proc.stderr
    with Shotline(live_server.base_url, KEY_A) as client:  # still there, video and all
        assert client.videos.retrieve(made[1]).videos


# ------------------------------------------------------------------------------------------- item 8, 9


def test_serve_at_a_terminal_banner_and_readable_logs(tmp_path: Path) -> None:
    """A person at a terminal: the banner says where everything is and that the engine loaded; log lines
    are text, not JSON. Stopped with SIGINT once the engine line is there."""
    import pty
    import select
    import signal
    import time

    from tests.cli.terminal import ANSI

    port = free_port()
    primary, secondary = pty.openpty()
    env = {**no_key_env(), "SHOTLINE_DATA_DIR": str(tmp_path / "data"), "SHOTLINE_API_KEYS": "k1,k2",
           "SHOTLINE_PORT": str(port), "COLUMNS": "120"}
    proc = subprocess.Popen([SHOTLINE, "serve"], stdin=secondary, stdout=secondary, stderr=secondary, env=env,
                            start_new_session=True)
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 300
        while b"ready at" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([primary], [], [], 1)[0]:
                seen += os.read(primary, 65536)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
        while select.select([primary], [], [], 0.5)[0]:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(primary)
    text = ANSI.sub("", seen.decode(errors="replace"))
    for expected in (f"listening   http://127.0.0.1:{port}", f"playground  http://127.0.0.1:{port}/",
                     f"API docs    http://127.0.0.1:{port}/docs", "engine      tiny (loading",
                     "engine tiny loaded in", f"ready at http://127.0.0.1:{port}/",
                     f"data        {tmp_path / 'data'}", "keys        2 in SHOTLINE_API_KEYS, 0 in the database"):
        assert expected in text, text
    assert '{"ts"' not in text and TRACEBACK not in text
    assert re.search(r"^\d\d:\d\d:\d\d INFO +shotline\.", text, re.MULTILINE), text  # a text log line


def test_serve_on_a_busy_port_is_one_line_and_exit_8(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = run_in_terminal("serve", "--port", str(port), env={"SHOTLINE_DATA_DIR": str(tmp_path)}, timeout=120,
                              columns=200)
    assert run.code == 8, run.text
    expected = (f"error: port {port} on 127.0.0.1 is already in use (another `shotline serve`?); stop it, or "
                "choose another port with --port or SHOTLINE_PORT")
    assert run.lines == [expected]


def test_serve_logs_json_when_not_a_terminal() -> None:
    from shotline.logs import resolve_format

    class Pipe:
        def isatty(self) -> bool:
            return False

    class Tty:
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", Pipe()) == "json" and resolve_format("auto", Tty()) == "text"  # type: ignore
    assert resolve_format("json", Tty()) == "json" and resolve_format("text", Pipe()) == "text"  # type: ignore


def test_an_invalid_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    for args in (["generate", "x"], ["serve"], ["gc", "--dry-run"]):
        run = run_in_terminal(*args, env={"SHOTLINE_LOG_FORMAT": "bogus", "SHOTLINE_DATA_DIR": str(tmp_path)},
                              timeout=60, columns=200)
        assert run.code == 2 and run.lines == ["error: SHOTLINE_LOG_FORMAT: Input should be 'auto', 'json' or "
                                               "'text', got 'bogus'"], run.text
