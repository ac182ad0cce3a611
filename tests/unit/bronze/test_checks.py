"""The bronze checks' scope helpers on a plain local Spark: only the partitions written are read, and the
freshness fallback when no commit since the last evaluation carried trades."""
import time

from crypto_pipeline.bronze import checks


def test_in_partitions_keeps_only_the_written_partitions(spark):
    df = spark.createDataFrame([("A", "d1", 1), ("A", "d2", 2), ("B", "d1", 3)], "symbol string, dt string, v int")
    got = checks.in_partitions(df, ("symbol", "dt"), {("A", "d2"), ("B", "d1")})
    assert sorted(r.v for r in got.collect()) == [2, 3]
    assert checks.in_partitions(df, ("symbol", "dt"), set()).count() == 0


def test_age_of_newest_trade(spark):
    now = int(time.time() * 1000)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    df = spark.createDataFrame([("A", today, now - 5000), ("A", "2001-01-01", now)], "symbol string, dt string, trade_time_ms long")
    age = checks._age_of_newest_trade(df)
    assert 5000 <= age < 60_000                  # an old partition's rows are not read
    assert checks._age_of_newest_trade(df.limit(0)) is None


def test_written_accumulates_rows_partitions_and_the_latest_lag():
    w = checks.Written()
    w.add(3, [{"symbol": "A", "dt": "d1"}], ("symbol", "dt"), 700)
    w.add(2, [{"symbol": "B", "dt": "d1"}], ("symbol", "dt"), None)
    assert w.rows == 5 and w.partitions == {("A", "d1"), ("B", "d1")} and w.freshness_lag_ms == 700


def test_late_rows_are_those_at_or_below_the_checked_keys(spark):
    from crypto_pipeline.lakehouse.tables import KLINES, TRADES

    rows = spark.createDataFrame([("A", 9), ("A", 10), ("A", 11), ("B", 5)], "symbol string, trade_id long")
    late = {(r.symbol, r.trade_id): r._late for r in checks.tag_late(spark, rows, TRADES, {("A",): 10}, True).collect()}
    assert late == {("A", 9): True, ("A", 10): True, ("A", 11): False, ("B", 5): False}   # B: never checked
    assert not any(r._late for r in checks.tag_late(spark, rows, TRADES, {}, False).collect())  # a first scope
    kl = spark.createDataFrame([("A", "1m", 1)], "symbol string, interval string, open_time_ms long")
    assert all(r._late for r in checks.tag_late(spark, kl, KLINES, {}, True).collect())   # upserted in place


def test_found_duplicates_merge_by_key():
    from crypto_pipeline.lakehouse.tables import TRADES

    a, b = {"symbol": "A", "trade_id": 1, "count": 2}, {"symbol": "A", "trade_id": 2, "count": 3}
    assert checks.merge_found(TRADES, [(1, [a]), (2, [a, b])]) == (2, [a, b])
    assert checks.merge_found(TRADES, [(40, [a])]) == (40, [a])      # a sample cut at its limit still counts all
    assert checks.merge_found(TRADES, []) == (0, [])
    assert checks.merge_max({("A",): 5}, {("A",): 3, ("B",): 1}) == {("A",): 5, ("B",): 1}


def test_held_twice_counts_only_the_keys_asked_for_and_samples_plain_values():
    import json

    import pandas as pd

    from crypto_pipeline.lakehouse.tables import KLINES, TRADES

    rows = pd.DataFrame({"symbol": ["A", "A", "A", "A", "B"], "trade_id": [1, 1, 2, 3, 3],
                         "dt": ["d1", "d1", "d1", "d1", "d1"]})
    rows.loc[len(rows)] = ["A", 3, "d1"]
    n, sample = checks.held_twice(rows, pd.DataFrame({"symbol": ["A", "B"], "trade_id": [1, 3], "dt": ["d1", "d1"]}), TRADES)
    assert (n, sample) == (1, [{"symbol": "A", "trade_id": 1, "count": 2, "dt": "d1"}])   # A/3 twice too, not asked
    json.dumps(sample)                                                                    # no numpy scalars
    assert checks.held_twice(rows.iloc[0:0], rows, TRADES) == (0, [])
    kl = pd.DataFrame({"symbol": ["A"] * 3, "interval": ["1m", "1m", "5m"], "open_time_ms": [60, 60, 60], "dt": ["d"] * 3})
    assert checks.held_twice(kl, kl, KLINES)[0] == 1      # the whole key: 1m/60 twice, 5m/60 once
