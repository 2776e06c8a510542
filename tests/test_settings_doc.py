"""docs/settings.md documents every setting, and is what the generator makes from config.py today."""

from __future__ import annotations

from pathlib import Path

from shotline.cli.settings_doc import render, settings_table
from shotline.config import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_the_settings_doc_is_up_to_date() -> None:
    text = DOC.read_text()
    assert render(text) == text, ("docs/settings.md is out of date with src/shotline/config.py; run "
                                  "`python -m shotline.cli.settings_doc docs/settings.md`")


def test_every_setting_has_a_row_with_words() -> None:
    rows = {line.split("`")[1]: line for line in settings_table().splitlines() if line.startswith("| `SHOTLINE_")}
    assert set(rows) == {f"SHOTLINE_{name.upper()}" for name in Settings.model_fields}
    empty = [name for name, row in rows.items() if row.rstrip().endswith("|  |")]
    assert not empty, f"settings without a comment in config.py: {empty}"
    for name in ("S3_REGION", "S3_PREFIX", "TORCH_THREADS", "CELERY_QUEUE", "VISIBILITY_TIMEOUT_S", "EMBEDDED_WORKER",
                 "HEARTBEAT_S", "POLL_S", "WEBHOOK_POLL_S", "API_SWITCH_INTERVAL_S"):  # the ten no doc named
        assert f"SHOTLINE_{name}" in rows
