"""Apply the serving schema: `python -m serving.migrate [provision|upgrade|downgrade|current|history] [revision]`.

Runs as the database owner (deploy's admin connection); components then use their own roles. Alembic
keeps the applied revision in `alembic_version`, so re-running is a no-op and a new revision applies once.
`provision` (what deploy does): create the database if missing, give the roles their logins, upgrade."""
from __future__ import annotations

import argparse
import os
import sys

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, create_engine
from sqlalchemy.pool import NullPool

from serving.db import ServingDsn

SCRIPT_LOCATION = "serving:migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    return cfg


def _engine(dsn: ServingDsn):
    url = URL.create("postgresql+psycopg", username=dsn.user, password=dsn.password, host=dsn.host,
                     port=dsn.port, database=dsn.dbname)
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})


def run(dsn: ServingDsn, action: str = "upgrade", revision: str = "head") -> None:
    engine = _engine(dsn)
    try:
        with engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            if action == "upgrade":
                command.upgrade(cfg, revision)
            elif action == "downgrade":
                command.downgrade(cfg, revision)
            elif action == "current":
                command.current(cfg, verbose=True)
            elif action == "history":
                command.history(cfg)
            else:
                raise ValueError(f"unknown action {action!r}")
    finally:
        engine.dispose()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(conn) -> str | None:
    """The applied revision on a psycopg connection (None before the first migration)."""
    exists = conn.execute("select to_regclass('public.alembic_version')").fetchone()[0]
    return conn.execute("select version_num from alembic_version").fetchone()[0] if exists else None


def provision(admin: ServingDsn, writer_password: str, reader_password: str) -> str | None:
    """Database, role logins and schema, idempotently; returns what changed (None: nothing)."""
    from psycopg import sql

    from serving.roles import ensure_serving_logins

    done = []
    server = ServingDsn(admin.host, admin.port, "postgres", admin.user, admin.password)
    with server.connect(autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (admin.dbname,)).fetchone() is None:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(admin.dbname)))
            done.append(f"created database {admin.dbname}")
        ensure_serving_logins(conn, writer_password, reader_password)
    with admin.connect(autocommit=True) as conn:
        before = current_revision(conn)
    run(admin, "upgrade", "head")
    head = head_revision()
    if before != head:
        done.append(f"serving schema {before or 'empty'} -> {head}")
    return "; ".join(done) or None


def _admin_from_env_or_stack() -> tuple[ServingDsn, str, str]:
    """The owner's connection and the role passwords: from the environment (containers: SERVING_PG_*,
    POSTGRES_USER/PASSWORD, SERVING_*_PASSWORD from .env) or else config/stack.yaml + .env."""
    env = os.environ
    if env.get("SERVING_PG_HOST") and env.get("POSTGRES_PASSWORD"):
        return (ServingDsn(env["SERVING_PG_HOST"], int(env.get("SERVING_PG_PORT", "5432")),
                           env.get("SERVING_PG_DB", "serving"), env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]),
                env.get("SERVING_WRITER_PASSWORD", ""), env.get("SERVING_READER_PASSWORD", ""))
    from infra.credentials import load_credentials
    from infra.layout import Layout
    from shared.settings import load_stack_settings

    s, c = load_stack_settings(), load_credentials(Layout().env_file)
    return (ServingDsn(s.bind_host, s.postgres.port, s.postgres.serving_db, c.postgres_user, c.postgres_password),
            c.serving_writer_password, c.serving_reader_password)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m serving.migrate", description=__doc__.splitlines()[0])
    ap.add_argument("action", nargs="?", default="upgrade",
                    choices=["provision", "upgrade", "downgrade", "current", "history"])
    ap.add_argument("revision", nargs="?", default="head")
    args = ap.parse_args(argv)
    admin, writer_pw, reader_pw = _admin_from_env_or_stack()
    if args.action == "provision":
        print(provision(admin, writer_pw, reader_pw) or "serving database up to date")
    else:
        run(admin, args.action, args.revision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
