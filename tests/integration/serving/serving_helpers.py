"""Helpers the serving integration tests share."""
from __future__ import annotations

from crypto_pipeline.silver import hudi
from serving.db import READER_ROLE, WRITER_ROLE, ServingDsn

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def dsn_of(stack, role: str | None = None, dbname: str | None = None) -> ServingDsn:
    """The stack's serving database as `role` (None: the admin/owner)."""
    s, c = stack.settings, stack.creds
    db = dbname or s.postgres.serving_db
    if role is None:
        return ServingDsn(s.bind_host, s.postgres.port, db, c.postgres_user, c.postgres_password)
    pw = {WRITER_ROLE: c.serving_writer_password, READER_ROLE: c.serving_reader_password}[role]
    return ServingDsn(s.bind_host, s.postgres.port, db, role, pw)


ANOM = "symbol string, interval string, open_time_ms bigint, metric string, value double, mean double, std double, " \
       "zscore double, window_bars int, updated_at_ms bigint, period string, _hoodie_is_deleted boolean"


def write_gold(spark, path, rows, schema=ANOM, key="symbol,interval,open_time_ms,metric"):
    opts = hudi.write_options("gold_anomalies", key, "symbol,interval,period", "updated_at_ms")
    spark.createDataFrame(rows, schema).write.format("hudi").options(**opts).mode("append").save(path)


def anomaly_row(sym, minute, value, stamp=1, deleted=False):
    return (sym, "1m", T0 + minute * 60_000, "volume", value, 1.0, 0.5, 4.2, 60, stamp, "2026-01-01", deleted)
