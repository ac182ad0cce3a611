"""Apply the serving schema: `python -m serving.migrate [upgrade|current|history] [revision]`.

Runs as the database owner (deploy's admin connection); components then use their own roles. Alembic
keeps the applied revision in `alembic_version`, so re-running is a no-op and a new revision applies once."""
from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m serving.migrate", description=__doc__.splitlines()[0])
    ap.add_argument("action", nargs="?", default="upgrade", choices=["upgrade", "downgrade", "current", "history"])
    ap.add_argument("revision", nargs="?", default="head")
    args = ap.parse_args(argv)
    # the owner's (the stack admin's) connection, from config/stack.yaml and .env
    from infra.credentials import load_credentials
    from infra.layout import Layout
    from shared.settings import load_stack_settings

    s, c = load_stack_settings(), load_credentials(Layout().env_file)
    run(ServingDsn(s.bind_host, s.postgres.port, s.postgres.serving_db, c.postgres_user, c.postgres_password),
        args.action, args.revision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
