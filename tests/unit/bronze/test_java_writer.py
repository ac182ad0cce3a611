"""The Java writer's maintenance cadence, on a stand-in for its JVM object: clean/archive run every
``maintain_every`` commits, and a failing clean neither fails the commit (its rows are in) nor stops the
next attempt."""
import logging

import pytest

from crypto_pipeline.lakehouse.java_writer import JavaTableWriter
from crypto_pipeline.lakehouse.tables import TRADES


class FakeJvmWriter:
    def __init__(self, fail_maintain: int = 0) -> None:
        self.commits, self.maintained, self.fail_maintain = 0, 0, fail_maintain

    def commit(self, metadata):
        self.commits += 1
        return f"2026113000000{self.commits:04d}"

    def maintain(self):
        if self.fail_maintain:
            self.fail_maintain -= 1
            raise RuntimeError("S3 unreachable")
        self.maintained += 1


def writer(every: int, fake: FakeJvmWriter) -> JavaTableWriter:
    w = JavaTableWriter.__new__(JavaTableWriter)   # no JVM: only the Python side's bookkeeping is under test
    w.table, w.path, w._j = TRADES, "s3a://b/bronze/trades", fake
    w._maintain_every, w._since_maintained = every, 0
    return w


def test_maintenance_runs_every_n_commits():
    fake = FakeJvmWriter()
    w = writer(3, fake)
    for _ in range(7):
        w.commit({})
    assert (fake.commits, fake.maintained) == (7, 2)


def test_a_failed_clean_does_not_fail_the_commit_and_is_tried_again(caplog):
    fake = FakeJvmWriter(fail_maintain=1)
    w = writer(2, fake)
    with caplog.at_level(logging.WARNING):
        assert [w.commit({}) for _ in range(4)] == ["20261130000000001", "20261130000000002",
                                                     "20261130000000003", "20261130000000004"]
    assert fake.maintained == 1   # the second attempt, two commits later
    assert "clean/archive after commit 20261130000000002 failed" in caplog.text and "S3 unreachable" in caplog.text


def test_maintain_every_must_be_positive():
    with pytest.raises(ValueError, match="maintain_every must be >= 1, got 0"):
        JavaTableWriter(None, TRADES, "s3a://b/bronze/trades", maintain_every=0)


def test_the_java_writer_takes_the_flat_insert_tables_only():
    from crypto_pipeline.lakehouse.java_writer import java_writable
    from crypto_pipeline.lakehouse.tables import BRONZE_TABLES

    assert sorted(n for n, t in BRONZE_TABLES.items() if java_writable(t)) == [
        "agg_trades", "book_ticker", "tickers", "trades"]   # not klines (upserts), depth (nested), quarantine
    with pytest.raises(ValueError, match="klines: the Java writer inserts flat rows"):
        JavaTableWriter(None, BRONZE_TABLES["klines"], "s3a://b/bronze/klines")


def test_staged_key_marks_are_read_per_group():
    from crypto_pipeline.lakehouse.java_writer import Staged

    s = Staged.from_dict({"rows": 3, "dropped": 0, "ids": {}, "partitions": [],
                          "key_min": [["BTCUSDT", "24h", 5], ["BTCUSDT", "mini", 7]],
                          "key_max": [["BTCUSDT", "24h", 9], ["BTCUSDT", "mini", 7]]})
    assert s.key_min == {("BTCUSDT", "24h"): 5, ("BTCUSDT", "mini"): 7}
    assert s.key_max == {("BTCUSDT", "24h"): 9, ("BTCUSDT", "mini"): 7}
    assert (s.min_time_ms, s.max_ingest_ms) == (None, None)
