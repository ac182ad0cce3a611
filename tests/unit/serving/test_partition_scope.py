"""Touched Hudi partitions -> the scopes a sparse table's deletes are reconciled in: hive-style
segments become equalities, `period` (UTC day or month, as silver/gold partition) an open_time range;
anything not expressible on both sides means "the whole table"."""
from serving.lakehouse import partition_scope

DAY = 86_400_000
JAN_1_2026 = 1_767_225_600_000


def test_day_and_month_periods_become_open_time_ranges():
    pg, lake = partition_scope("symbol=BTCUSDT/interval=1m/period=2026-01-01", ("symbol", "interval", "open_time_ms"))
    assert pg == {"symbol": "BTCUSDT", "interval": "1m", "open_time_ms": (JAN_1_2026, JAN_1_2026 + DAY)}
    assert lake == {"symbol": "BTCUSDT", "interval": "1m", "period": "2026-01-01"}
    pg, _ = partition_scope("interval=1h/period=2025-12", ("interval",))
    assert pg["open_time_ms"] == (JAN_1_2026 - 31 * DAY, JAN_1_2026)


def test_unexpressible_partitions_fall_back_to_the_whole_table():
    cols = ("symbol", "interval")
    assert partition_scope("BTCUSDT/1m", cols) is None                # not hive-style
    assert partition_scope("symbol=BTCUSDT/dt=2026-01-01", cols) is None  # a column serving does not have
    assert partition_scope("symbol=BTCUSDT/period=someday", cols) is None
    assert partition_scope("", cols) == ({}, {})                      # unpartitioned: the whole table
