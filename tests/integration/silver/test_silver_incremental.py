"""The incremental story on real Spark + Hudi on MinIO, with the simulator's market as ground truth:
full build -> one more minute of trades -> a late trade -> a replayed trade; OHLCV equals direct
aggregation at every interval after each step, the late trade restates exactly its candles at every
interval, reruns change nothing, 1m candles reconcile with the simulator's klines, and incremental
indicators (carried state and recompute-from-origin) equal a from-origin computation."""
import pytest

from silver_bronze_data import simulate, write_klines, write_trades
from silver_reference import direct_candles, silver_rows

from crypto_pipeline.silver.indicators import OUTPUT_COLUMNS, compute
from crypto_pipeline.silver.indicators_job import update_indicators
from crypto_pipeline.silver.intervals import INTERVALS
from crypto_pipeline.silver.ohlcv_job import update_ohlcv
from crypto_pipeline.silver.reconcile import reconcile_1m

T0 = 1704153000000  # 2024-01-01 23:50 UTC: the run crosses a UTC day (1d and partition boundaries)


@pytest.fixture(scope="module")
def story(spark, minio_stack):
    import uuid
    lake = f"s3a://{minio_stack.settings.minio.bucket}/it-silver/{uuid.uuid4().hex[:10]}"
    trades, klines = simulate({"BTCUSDT": 3.0, "ETHUSDT": 1.5}, T0, 22 * 60, seed=11)
    late = next(t for t in trades if t[0] == "BTCUSDT" and t[5] >= T0 + 7 * 60_000 + 20_000)
    cut = T0 + 20 * 60_000
    batch1 = [t for t in trades if t[5] < cut and t is not late]
    batch2 = [t for t in trades if t[5] >= cut]
    return dict(lake=lake, bronze=f"{lake}/bronze/trades", klines_path=f"{lake}/bronze/klines",
                silver=f"{lake}/silver/ohlcv", ind=f"{lake}/silver/indicators", state=f"{lake}/silver/indicator_state",
                trades=trades, klines=klines, late=late, batch1=batch1, batch2=batch2, results={})


def _assert_equals_direct(spark, st, trades):
    rows = spark.read.format("hudi").load(st["silver"]).collect()
    for iv in INTERVALS:
        got, want = silver_rows(rows, iv), direct_candles(trades, iv, None)
        assert got.keys() == want.keys(), iv
        bad = [k for k in want if got[k] != want[k]]
        assert not bad, (iv, bad[:3], [(got[k], want[k]) for k in bad[:1]])
    return rows


def _indicators_equal_origin(spark, st, rows):
    ind = {(r.symbol, r.interval, r.open_time_ms): r for r in spark.read.format("hudi").load(st["ind"]).collect()}
    n = 0
    for sym in ("BTCUSDT", "ETHUSDT"):
        for iv in INTERVALS:
            series = sorted((r.open_time_ms, r.close) for r in rows if r.symbol == sym and r.interval == iv and r.is_final)
            outs, _ = compute([float(c) for _, c in series])
            for (ot, _), o in zip(series, outs):
                got = ind[(sym, iv, ot)]
                assert all(getattr(got, c) == o[c] for c in OUTPUT_COLUMNS), (sym, iv, ot)  # identical, not close
                n += 1
    assert len(ind) == n  # no indicator rows for non-final candles
    return n


def test_1_full_build_matches_direct_aggregation(spark, story):
    write_trades(spark, story["bronze"], story["batch1"])
    res = update_ohlcv(spark, story["bronze"], story["silver"])
    assert res.trades_read == len(story["batch1"]) and res.late_trades == 0 and not res.excluded
    rows = _assert_equals_direct(spark, story, story["batch1"])
    r = update_indicators(spark, story["silver"], story["ind"], story["state"])
    assert r.series_recomputed == 12 and r.series_carried == 0
    assert _indicators_equal_origin(spark, story, rows) > 20


def test_2_one_more_minute_is_incremental(spark, story):
    write_trades(spark, story["bronze"], story["batch2"])
    res = update_ohlcv(spark, story["bronze"], story["silver"])
    assert res.trades_read == len(story["batch2"])  # only the new commit was read
    # restated: the open candles that became final plus the new ones - nothing older than the day
    assert res.candles_written["1m"] <= 2 * 4
    rows = _assert_equals_direct(spark, story, story["batch1"] + story["batch2"])
    r = update_indicators(spark, story["silver"], story["ind"], story["state"])
    assert r.series_carried >= 2 and r.series_recomputed == 0  # resumed from the saved loop state
    _indicators_equal_origin(spark, story, rows)


def test_3_late_trade_restates_every_interval(spark, story):
    late = story["late"]
    before = {(r.interval, r.open_time_ms): r for r in spark.read.format("hudi").load(story["silver"])
              .filter("symbol = 'BTCUSDT'").collect()}
    write_trades(spark, story["bronze"], [late])
    res = update_ohlcv(spark, story["bronze"], story["silver"])
    assert res.trades_read == 1 and res.late_trades == 1
    after = spark.read.format("hudi").load(story["silver"]).filter("symbol = 'BTCUSDT'").collect()
    commit = max(r._hoodie_commit_time for r in after)
    rewritten = {(r.interval, r.open_time_ms) for r in after if r._hoodie_commit_time == commit}
    t = late[5]
    for iv, size in (("1m", 60_000), ("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000), ("4h", 14_400_000),
                     ("1d", 86_400_000)):
        key = (iv, t - t % size)
        assert key in rewritten, iv
        new = next(r for r in after if (r.interval, r.open_time_ms) == key)
        assert new.trade_count == before[key].trade_count + 1 and new.volume == before[key].volume + late[3]
    assert len(rewritten) == sum(res.candles_written.values()) <= 6  # exactly the touched candles
    assert "ETHUSDT" not in res.symbols
    rows = _assert_equals_direct(spark, story, story["trades"])
    r = update_indicators(spark, story["silver"], story["ind"], story["state"])
    assert r.series_recomputed == 6  # every BTCUSDT interval restated a consumed candle: from origin
    _indicators_equal_origin(spark, story, rows)


def test_4_rerun_and_replay_are_idempotent(spark, story):
    assert update_ohlcv(spark, story["bronze"], story["silver"]).skipped
    write_trades(spark, story["bronze"], [story["late"]])  # the same trade replayed: a new bronze commit
    res = update_ohlcv(spark, story["bronze"], story["silver"])
    assert res.trades_read == 1 and res.candles_written == {}  # recomputed, nothing changed, no double count
    _assert_equals_direct(spark, story, story["trades"])


def test_5_reconciles_with_simulator_klines(spark, story):
    write_klines(spark, story["klines_path"], story["klines"])
    rec = reconcile_1m(spark, story["silver"], story["klines_path"])
    assert rec.mismatched == 0 and rec.exchange_only == 0, rec.mismatches[:3]
    assert rec.compared == len(story["klines"]) - 2 > 30  # each symbol's last closed kline = silver's open candle
    bad = list(story["klines"][5])
    bad[7] = bad[7] + 1  # exchange close differs by one unit
    write_klines(spark, story["klines_path"], [tuple(bad)])
    rec = reconcile_1m(spark, story["silver"], story["klines_path"])
    assert rec.mismatched == 1 and rec.mismatches[0]["open_time_ms"] == bad[2] and "close" in rec.mismatches[0]["fields"]
    write_klines(spark, story["klines_path"], [story["klines"][5]])
    # ingest started inside the first minute: the exchange's kline began 3 trades earlier -> partial, not a mismatch
    first = min((k for k in story["klines"] if k[0] == "ETHUSDT"), key=lambda k: k[2])
    partial = list(first)
    partial[13], partial[12], partial[4] = partial[13] - 3, partial[12] + 3, partial[4] + 1
    write_klines(spark, story["klines_path"], [tuple(partial)])
    rec = reconcile_1m(spark, story["silver"], story["klines_path"])
    assert rec.mismatched == 0 and rec.partial_at_start == 1, rec.mismatches[:3]
    later = list(min((k for k in story["klines"] if k[0] == "ETHUSDT" and k[2] > first[2]), key=lambda k: k[2]))
    later[13], later[12] = later[13] - 3, later[12] + 3    # the same on any later minute is a real mismatch
    write_klines(spark, story["klines_path"], [tuple(later)])
    rec = reconcile_1m(spark, story["silver"], story["klines_path"])
    assert rec.mismatched == 1 and rec.mismatches[0]["open_time_ms"] == later[2]
