"""The serving database as a Dagster resource, connected as `pipeline_writer` (never the superuser)."""
from __future__ import annotations

import os

import psycopg
from dagster import ConfigurableResource, EnvVar

from serving.db import WRITER_ROLE, ServingDsn


class ServingDatabase(ConfigurableResource):
    host: str
    port: int
    dbname: str
    user: str = WRITER_ROLE
    password: str

    def dsn(self) -> ServingDsn:
        return ServingDsn(self.host, self.port, self.dbname, self.user, self.password)

    def connect(self) -> psycopg.Connection:
        """Autocommit: every sync opens exactly one explicit transaction of its own."""
        return self.dsn().connect(autocommit=True, application_name="cdp-serving-sync")


def serving_database_from_env() -> ServingDatabase:
    # host/port/db are not secret and resolve at load; the password only at run time (EnvVar)
    return ServingDatabase(host=os.environ.get("SERVING_PG_HOST", "127.0.0.1"),
                           port=int(os.environ.get("SERVING_PG_PORT", "5433")),
                           dbname=os.environ.get("SERVING_PG_DB", "serving"),
                           password=EnvVar("SERVING_WRITER_PASSWORD"))
