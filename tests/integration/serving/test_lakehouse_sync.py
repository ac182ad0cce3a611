"""Lakehouse -> PostgreSQL sync with real Spark + Hudi on MinIO: candles from silver built by the real silver
jobs (incremental, idempotent, the trades' source carried), gold tables synced generically from small
gold-shaped Hudi tables (NaN -> NULL, restated-away rows deleted, delete-only commits included)."""
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "silver"))  # bronze-shaped test data of the silver tests

from silver_bronze_data import trade_row, write_trades  # noqa: E402

from crypto_pipeline.silver import hudi  # noqa: E402
from crypto_pipeline.silver.indicators_job import update_indicators  # noqa: E402
from crypto_pipeline.silver.ohlcv_job import update_ohlcv  # noqa: E402
from serving.lakehouse import GoldTable, candle_rows, sync_candles, sync_gold_table  # noqa: E402
from serving.upsert import synced_commit, table_shape  # noqa: E402
from serving_helpers import T0, anomaly_row, write_gold  # noqa: E402

SRC = 8  # index of `source` in a bronze trade row


def _trades(symbol: str, minutes: range, first_id: int, source: str = "simulator") -> list[tuple]:
    rows, tid = [], first_id
    for m in minutes:
        for k in range(3):
            r = trade_row(symbol, tid, Decimal("100") + m + Decimal(k) / 10, Decimal("0.5"), T0 + m * 60_000 + k * 1000,
                          k % 2 == 0)
            rows.append(r[:SRC] + (source,) + r[SRC + 1:])
            tid += 1
    return rows


def _silver(spark, lake):
    update_ohlcv(spark, f"{lake}/bronze/trades", f"{lake}/silver/ohlcv")
    update_indicators(spark, f"{lake}/silver/ohlcv", f"{lake}/silver/indicators", f"{lake}/silver/indicator_state")


def _pg_candles(conn, symbol):
    return {(r[0], r[1]): r[2:] for r in conn.execute(
        "select interval, open_time_ms, close, volume, source, is_final, sma_20 from candles where symbol = %s",
        (symbol,)).fetchall()}


def _lake_candles(spark, lake, columns, symbol):
    rows = candle_rows(spark, f"{lake}/silver/ohlcv", f"{lake}/silver/indicators", None, "99999999999999999",
                       None, "99999999999999999", columns).filter(f"symbol = '{symbol}'").collect()
    return {(r.interval, r.open_time_ms): (r.close, r.volume, r.source, r.is_final, r.sma_20) for r in rows}


def test_candles_follow_silver_incrementally_and_idempotently(spark, lake, writer_dsn, reader_dsn):
    sym = "SRVAUSDT"
    trades = _trades(sym, range(0, 3), 1) + _trades(sym, range(3, 4), 100, "rest_backfill") + _trades(sym, range(6, 30), 200)
    write_trades(spark, f"{lake}/bronze/trades", trades)
    _silver(spark, lake)
    paths = (f"{lake}/silver/ohlcv", f"{lake}/silver/indicators")
    with writer_dsn.connect(autocommit=True) as conn:
        conn.execute("delete from sync_state where table_name like 'candles%'")  # this test's lake is new
        first = sync_candles(spark, conn, *paths)
        columns = table_shape(conn, "candles").columns
        got = _pg_candles(conn, sym)
        assert got == _lake_candles(spark, lake, columns, sym)  # every candle, exact decimals, indicators
        assert first.upserted == len(got) and first.symbols == [sym]
        assert got[("1m", T0 + 3 * 60_000)][2] == "rest_backfill"
        assert got[("1m", T0 + 4 * 60_000)][2] == "rest_backfill"  # empty candle: carries the close and its source
        assert got[("5m", T0)][2] == "rest_backfill,simulator"      # mixed sources are all named
        assert got[("1m", T0 + 29 * 60_000)][3] is False and got[("1m", T0)][3] is True
        assert got[("1m", T0 + 28 * 60_000)][4] is not None  # sma_20 once 20 final candles exist
        ohlcv_commit = synced_commit(conn, "candles")
        assert ohlcv_commit == hudi.latest_completion_time(spark, paths[0])

        assert sync_candles(spark, conn, *paths) is None  # nothing new: no transaction at all
        write_trades(spark, f"{lake}/bronze/trades", trades)  # a replay: silver commits no changed candle
        _silver(spark, lake)
        rerun = sync_candles(spark, conn, *paths)
        assert rerun is not None and rerun.upserted == 0 and synced_commit(conn, "candles") != ohlcv_commit

        write_trades(spark, f"{lake}/bronze/trades", _trades(sym, range(30, 31), 500))  # one more minute
        _silver(spark, lake)
        inc = sync_candles(spark, conn, *paths)
        after = _pg_candles(conn, sym)
    assert after == _lake_candles(spark, lake, columns, sym)
    assert ("1m", T0 + 30 * 60_000) in after and after[("1m", T0 + 29 * 60_000)][3] is True
    # only what changed: the new 1m candle, the one it finalised, the open 5m..1d buckets (+ their indicators)
    assert 0 < inc.upserted <= 10
    with reader_dsn.connect() as conn:
        assert conn.execute("select count(*) from candles where symbol = %s", (sym,)).fetchone()[0] == len(after)


@pytest.fixture()
def anomalies(lake, writer_dsn):
    """A new gold anomalies Hudi table and an empty `gold_anomalies` that has never been synced."""
    with writer_dsn.connect(autocommit=True) as conn:
        conn.execute("delete from gold_anomalies")
        conn.execute("delete from sync_state where table_name = 'gold_anomalies'")
    return f"{lake}/gold/anomalies", GoldTable("anomalies", sparse=True)


def test_gold_sync_is_generic_incremental_and_removes_restated_away_rows(spark, anomalies, writer_dsn):
    path, table = anomalies
    with writer_dsn.connect(autocommit=True) as conn:
        write_gold(spark, path, [anomaly_row("GLDAUSDT", m, float(m)) for m in range(5)] +
                    [anomaly_row("GLDBUSDT", m, float("nan")) for m in range(3)])
        r1 = sync_gold_table(spark, conn, path, table)
        assert (r1.upserted, r1.deleted) == (8, 0)
        assert conn.execute("select count(*) from gold_anomalies where value is null").fetchone()[0] == 3  # NaN
        assert sync_gold_table(spark, conn, path, table) is None  # no new commit

        # a restatement: one anomaly un-flagged (deleted in Hudi), one changed, one new
        write_gold(spark, path, [anomaly_row("GLDAUSDT", 1, 1.0, 2, deleted=True), anomaly_row("GLDAUSDT", 2, 9.5, 2),
                                  anomaly_row("GLDAUSDT", 7, 7.0, 2)])
        r2 = sync_gold_table(spark, conn, path, table)
        assert (r2.upserted, r2.deleted) == (2, 1)
        # a commit that only deletes (no upserted row shows in an incremental query)
        write_gold(spark, path, [anomaly_row("GLDBUSDT", 0, 0.0, 3, deleted=True)])
        r3 = sync_gold_table(spark, conn, path, table)
        assert (r3.upserted, r3.deleted) == (0, 1)
        pg = {(r[0], r[1]): r[2] for r in conn.execute(
            "select symbol, open_time_ms, value from gold_anomalies where symbol like 'GLD%'").fetchall()}
    lake_rows = {(r.symbol, r.open_time_ms): r.value for r in hudi.read_snapshot(spark, path).collect()}
    assert pg.keys() == lake_rows.keys() and len(pg) == 7
    assert pg[("GLDAUSDT", T0 + 2 * 60_000)] == 9.5 and ("GLDAUSDT", T0 + 60_000) not in pg


def test_a_failed_gold_sync_moves_neither_rows_nor_checkpoint(spark, anomalies, writer_dsn):
    path, table = anomalies
    with writer_dsn.connect(autocommit=True) as conn:
        write_gold(spark, path, [anomaly_row("FLDAUSDT", m, 1.0) for m in range(3)])
        sync_gold_table(spark, conn, path, table)
        before = synced_commit(conn, "gold_anomalies")
        write_gold(spark, path, [anomaly_row("FLDAUSDT", m, 2.0, 2) for m in range(3)])

        def crash():
            raise RuntimeError("killed")

        with pytest.raises(RuntimeError):
            sync_gold_table(spark, conn, path, table, before_commit=crash)
        assert synced_commit(conn, "gold_anomalies") == before
        assert conn.execute("select array_agg(distinct value) from gold_anomalies where symbol = 'FLDAUSDT'").fetchone()[0] == [1.0]
        assert sync_gold_table(spark, conn, path, table).upserted == 3
