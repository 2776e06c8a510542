"""The README's first screen keeps exactly two set-up commands, and CI runs the second one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def command_after(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.+?)\n```", text, re.DOTALL)
    assert match, marker
    return match.group(1)


def test_two_setup_commands_on_the_first_screen() -> None:
    text = (ROOT / "README.md").read_text()
    first_screen = text.split("\n---\n", 1)[0]
    assert len(re.findall(r"```bash\n", first_screen)) == 2
    main, tests = command_after("main-command"), command_after("test-command")
    for cmd in (main, tests):
        assert "\n" not in cmd and cmd.startswith("python3 -m venv .venv && .venv/bin/pip install")
    assert "shotline generate" in main and "--sound" in main and "--duration 5" in main and "16:9" in main
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    # .ci/run must extract exactly the README's test line (checked by running its extraction only).
    script = (ROOT / ".ci" / "run").read_text()
    extraction = script.split("cmd=$(", 1)[1].split("README.md)", 1)[0] + "README.md"
    out = subprocess.run(["bash", "-c", extraction], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == command_after("test-command")
