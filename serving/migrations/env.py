"""Alembic environment: migrations run on the connection serving.migrate hands over (online only; the
schema is plain SQL in the revisions, so there is no metadata to autogenerate from)."""
from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the serving migrations through `python -m serving.migrate` (it opens the connection)")
context.configure(connection=connection, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
