"""Silver table names, paths, keys and partitioning (one place, like lakehouse/tables.py for bronze)."""
from __future__ import annotations

SILVER_PREFIX = "silver"
OHLCV = "ohlcv"
INDICATORS = "indicators"
INDICATOR_STATE = "indicator_state"

#: both series tables: one row per (symbol, interval, open_time); partitioned so that an incremental run
#: rewrites only the current day's 1m/5m/15m files and the current month's 1h/4h/1d files
SERIES_KEY = "symbol,interval,open_time_ms"
SERIES_PARTITION = "symbol,interval,period"
PRECOMBINE = "updated_at_ms"


def silver_path(bucket: str, table: str) -> str:
    return f"s3a://{bucket}/{SILVER_PREFIX}/{table}"


def bronze_table_path(bucket: str, table: str) -> str:
    """Bronze base path from the bronze engineer's contract module, or the agreed layout if absent."""
    try:
        from crypto_pipeline.lakehouse.tables import bronze_path
    except ImportError:  # contract: s3a://<bucket>/bronze/<table>
        return f"s3a://{bucket}/bronze/{table}"
    return bronze_path(bucket, table)
