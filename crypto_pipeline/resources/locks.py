"""The bronze writer locks as a Dagster resource (the stack's PostgreSQL; see
crypto_pipeline/lakehouse/writer_lock.py for why)."""
from __future__ import annotations

from dagster import ConfigurableResource

from crypto_pipeline.lakehouse.writer_lock import TableLocks


class BronzeLocksResource(ConfigurableResource):
    host: str
    port: int
    user: str
    password: str
    dbname: str

    def locks(self, bucket: str, application: str = "dagster") -> TableLocks:
        return TableLocks(self.host, self.port, self.user, self.password, self.dbname, bucket, application)
