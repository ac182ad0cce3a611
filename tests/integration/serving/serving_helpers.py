"""Helpers the serving integration tests share."""
from __future__ import annotations

from serving.db import READER_ROLE, WRITER_ROLE, ServingDsn


def dsn_of(stack, role: str | None = None, dbname: str | None = None) -> ServingDsn:
    """The stack's serving database as `role` (None: the admin/owner)."""
    s, c = stack.settings, stack.creds
    db = dbname or s.postgres.serving_db
    if role is None:
        return ServingDsn(s.bind_host, s.postgres.port, db, c.postgres_user, c.postgres_password)
    pw = {WRITER_ROLE: c.serving_writer_password, READER_ROLE: c.serving_reader_password}[role]
    return ServingDsn(s.bind_host, s.postgres.port, db, role, pw)
