"""Durable state: tasks, API keys and workers, on SQLAlchemy (SQLite by default)."""

from shotline.store.db import make_engine, migrate, now_ms
from shotline.store.keys import KeyStore
from shotline.store.tasks import NewTask, TaskRecord, TaskStore
from shotline.store.webhooks import WebhookOutbox

__all__ = ["KeyStore", "NewTask", "TaskRecord", "TaskStore", "WebhookOutbox", "make_engine", "migrate", "now_ms"]
