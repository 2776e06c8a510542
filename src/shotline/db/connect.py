"""The database (an SQLAlchemy engine, called `db` throughout, so that "engine" means a model) and its
migrations.

SQLite is the embedded default: WAL so the API can read while the worker writes, and a busy timeout so
the two processes wait for each other's short write transactions instead of failing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()


def now_ms() -> int:
    return int(time.time() * 1000)


def make_db(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        db = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(db, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy, not the sqlite3 module, start transactions (SQLAlchemy's documented recipe),
            # so a transaction that must write can take the write lock first (BEGIN IMMEDIATE).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(db, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write_lock") else "BEGIN")

        return db
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def is_postgres(db: Engine) -> bool:
    return db.dialect.name == "postgresql"


MIGRATION_LOCK_ID = 0x5107_11E  # any constant; every Shotline process takes the same advisory lock


def migrate(db: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (Alembic); safe to call on every start, from many processes at once
    (an API and its workers starting together): migrations are serialized, and the later ones find the
    schema current."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with _migrate_lock, db.connect() as conn:
        conn = conn.execution_options(write_lock=True)  # BEGIN IMMEDIATE on SQLite
        with conn.begin():
            if is_postgres(db):
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
