"""The serving roles' logins. The migrations create the roles (NOLOGIN) and their privileges; this gives
them LOGIN and the passwords deploy generated into .env. The password travels to PostgreSQL only as a
SCRAM verifier computed client-side (libpq's PQencryptPasswordConn), so no plain secret appears in a
statement the server could log."""
from __future__ import annotations

import psycopg
from psycopg import sql

from serving.db import READER_ROLE, WRITER_ROLE


def ensure_login(conn: psycopg.Connection, role: str, password: str) -> None:
    """Create `role` if missing and set LOGIN + password (idempotent: the .env stays the source of truth)."""
    if not password:
        raise ValueError(f"no password for serving role {role!r}: run ./deploy.sh to generate it into .env")
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is None:
        conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
    conn.execute(sql.SQL("alter role {} with login nosuperuser nocreatedb nocreaterole noinherit password {}")
                 .format(sql.Identifier(role), sql.Literal(verifier)))


def ensure_serving_logins(conn: psycopg.Connection, writer_password: str, reader_password: str) -> None:
    ensure_login(conn, WRITER_ROLE, writer_password)
    ensure_login(conn, READER_ROLE, reader_password)
