"""The two backends every contract and end-to-end test runs on: embedded (SQLite, in-process queue, local
files) and scale-out (PostgreSQL, Celery on Redis, S3 from moto)."""

from __future__ import annotations

import pytest

BACKENDS = ["embedded", "scale"]


def backend_overrides(request: pytest.FixtureRequest, backend: str) -> dict[str, str]:
    if backend == "embedded":
        return {}
    return request.getfixturevalue("scale_services").settings_overrides()
