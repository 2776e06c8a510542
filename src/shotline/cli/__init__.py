"""`shotline`: serve, generate, keys, db."""

from shotline.cli.main import app

__all__ = ["app"]
