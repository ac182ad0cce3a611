"""How components reach the serving database: one role per component, never the superuser. Settings from
the environment (set by infra/services.py): `SERVING_PG_HOST`, `SERVING_PG_PORT`, `SERVING_PG_DB` and the
role's own password variable, `SERVING_WRITER_PASSWORD` or `SERVING_READER_PASSWORD` (distinct names, so
a process only ever receives the password of the role it uses and supervisord's environment holds both
without one overwriting the other)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg

WRITER_ROLE = "pipeline_writer"  # sync assets, live ticker consumer
READER_ROLE = "reader"           # dashboard, BI tools: SELECT only
PASSWORD_VARS = {WRITER_ROLE: "SERVING_WRITER_PASSWORD", READER_ROLE: "SERVING_READER_PASSWORD"}


@dataclass(frozen=True)
class ServingDsn:
    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)

    @classmethod
    def from_env(cls, role: str, env: Mapping[str, str] | None = None) -> "ServingDsn":
        """`role` is WRITER_ROLE or READER_ROLE."""
        env = os.environ if env is None else env
        need = ["SERVING_PG_HOST", "SERVING_PG_PORT", "SERVING_PG_DB", PASSWORD_VARS[role]]
        missing = [k for k in need if not env.get(k)]
        if missing:
            raise ValueError(f"serving database settings missing from the environment: {', '.join(missing)} "
                             "(set by ./deploy.sh from .env)")
        return cls(env["SERVING_PG_HOST"], int(env["SERVING_PG_PORT"]), env["SERVING_PG_DB"], role,
                   env[PASSWORD_VARS[role]])

    def connect(self, autocommit: bool = False, **kw) -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                               password=self.password, autocommit=autocommit, connect_timeout=10,
                               application_name=kw.pop("application_name", "cdp-serving"), **kw)
