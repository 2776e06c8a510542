"""Logging set-up shared by the server and the worker processes."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    # Alembic narrates every plugin it sets up on each start; only its warnings matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
