"""`pip install shotline` (no extras) must give the API server, the SDK and the CLI without torch."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "transformers", "av", "numpy")


def test_base_dependencies_are_light() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [d.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() for d in project["dependencies"]]
    assert not set(names) & set(HEAVY), names
    assert "torch==2.13.0" in project["optional-dependencies"]["engines"]


def test_server_sdk_and_cli_import_without_heavy_packages(tmp_path: Path) -> None:
    # Make the heavy packages unimportable, then build the app and use the SDK and the CLI.
    code = f"""
import sys
for name in {HEAVY!r}:
    sys.modules[name] = None
from shotline.config import Settings
from shotline.api.app import create_app
app = create_app(Settings(data_dir={str(tmp_path)!r}, embedded_worker=False, api_keys=["k"]))
from fastapi.testclient import TestClient
with TestClient(app) as c:
    r = c.post("/v3/async/kling-v3.0-pro-t2v", json={{"prompt": "x"}}, headers={{"Authorization": "Bearer k"}})
    assert r.status_code == 200, r.text
from shotline.client import Shotline
from shotline.cli import app as cli
loaded = [m for m in {HEAVY!r} if sys.modules.get(m) is not None]
assert not loaded, loaded
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_api_process_never_imports_torch_while_serving(live_server) -> None:
    """The real server process (not its worker) has no torch loaded after running tasks."""
    import httpx

    from tests.helpers.server import CREATE, wait_terminal

    with live_server.client() as http:
        wait_terminal(http, http.post(CREATE, json={"prompt": "x", "duration": 3}).json()["task_id"])
    maps = Path(f"/proc/{live_server.proc.pid}/maps").read_text()
    assert "libtorch" not in maps and "torch/_C" not in maps
    assert httpx.get(live_server.base_url + "/healthz").status_code == 200
