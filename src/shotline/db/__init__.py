"""Durable state in SQL (SQLAlchemy; SQLite by default, PostgreSQL to scale out). Files live in
`shotline.storage`, not here.

One module a concern: task rows and their typed status changes (tasks.py), dispatch stamps (dispatch.py),
worker rows (workers.py), recovery of orphaned tasks (recovery.py), API keys (keys.py), the webhook outbox
(webhooks.py), aggregates for /metrics (stats.py); the connection and migrations (connect.py).
"""

from shotline.db.connect import make_db, migrate, now_ms
from shotline.db.dispatch import DispatchLog
from shotline.db.keys import KeyStore
from shotline.db.recovery import recover_orphans
from shotline.db.tasks import NewTask, TaskRecord, TaskStore
from shotline.db.webhooks import WebhookOutbox
from shotline.db.workers import WorkerRegistry

__all__ = ["DispatchLog", "KeyStore", "NewTask", "TaskRecord", "TaskStore", "WebhookOutbox", "WorkerRegistry",
           "make_db", "migrate", "now_ms", "recover_orphans"]
