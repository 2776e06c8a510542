"""Alembic environment: run with the connection that `shotline.db.connect.migrate` hands over."""

from alembic import context

from shotline.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    raise RuntimeError("run migrations with `shotline db upgrade`, which passes the database connection")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
