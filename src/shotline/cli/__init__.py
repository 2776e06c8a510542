"""`shotline`: generate, serve, tasks, keys, worker, models, gc, db."""

from shotline.cli.main import app, main

__all__ = ["app", "main"]
