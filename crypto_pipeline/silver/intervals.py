"""Kline intervals and bucket arithmetic (spec §1.2).

All six intervals divide one day and the epoch starts at 00:00 UTC, so buckets nest: each 1m bucket
lies in exactly one bucket of every larger interval. That nesting is what makes the roll-up from 1m
exact and lets an incremental run restate whole days without touching anything before them."""
from __future__ import annotations

from datetime import datetime, timezone

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
INTERVALS: tuple[str, ...] = tuple(INTERVAL_MS)
HIGHER: tuple[str, ...] = INTERVALS[1:]
DAY_MS = INTERVAL_MS["1d"]
#: intervals whose rows are partitioned by day (the rest by month) - keeps partitions neither huge nor tiny
DAILY_PARTITIONED = ("1m", "5m", "15m")


def open_time(t_ms: int, interval: str) -> int:
    """Open time of the bucket holding ``t_ms``: floor division, times are >= 0."""
    size = INTERVAL_MS[interval]
    return t_ms - t_ms % size


def close_time(open_ms: int, interval: str) -> int:
    """Binance close time: open + I - 1 ms."""
    return open_ms + INTERVAL_MS[interval] - 1


def period_of(open_ms: int, interval: str) -> str:
    """Partition value of a candle: UTC day for 1m/5m/15m, UTC month for 1h/4h/1d."""
    d = datetime.fromtimestamp(open_ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%d") if interval in DAILY_PARTITIONED else d.strftime("%Y-%m")
