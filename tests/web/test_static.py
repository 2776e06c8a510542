"""The playground's files over plain HTTP: served at `/` and `/web/...` with the right types, shipped in
the wheel, loading nothing from the internet, and leaving the API's error shape and OpenAPI untouched."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

from tests.helpers.server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "shotline" / "web"


def test_index_and_static_files_have_their_content_types(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        index = http.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert "Content-Security-Policy" in index.headers
        assert '<form id="create-form"' in index.text
        types = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".html": ("text/html",)}
        for file in sorted(WEB.iterdir()):
            r = http.get(f"/web/{file.name}")
            assert r.status_code == 200, file.name
            # Module scripts run only when served with a JavaScript type.
            assert r.headers["content-type"].split(";")[0] in types[file.suffix], (file.name, r.headers["content-type"])
            assert r.content == file.read_bytes()


def test_unknown_paths_still_answer_in_the_contract_shape(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        for path in ("/web/nope.js", "/nope", "/v3/async/nope", "/web/"):
            r = http.get(path)
            assert r.status_code == 404, path
            body = r.json()
            assert body["code"] == 404 and body["reason"] == "NOT_FOUND" and body["message"], (path, body)
        r = http.post("/", json={})
        assert r.status_code == 405 and r.json()["code"] == 405
        paths = http.get("/openapi.json").json()["paths"]
        assert "/" not in paths and not any(p.startswith("/web") for p in paths)


def test_the_page_loads_nothing_from_elsewhere() -> None:
    index = (WEB / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]*)"', index)
    assert refs and all(ref.startswith(("/web/", "data:")) for ref in refs), refs
    for file in WEB.iterdir():
        assert not re.search(r"https?://", file.read_text()), f"{file.name} refers to another site"
        imports = re.findall(r'from "([^"]+)"', file.read_text())
        assert all(re.fullmatch(r"\./\w+\.js", i) and (WEB / i).exists() for i in imports), (file.name, imports)


def test_the_wheel_ships_the_page(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(tmp_path)], check=False, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("shotline-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"shotline/web/{file.name}" for file in WEB.iterdir()} <= names
