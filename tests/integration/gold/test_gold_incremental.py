"""The gold incremental story on real Spark + Hudi on MinIO: full build -> one more minute -> a late trade
restating silver and therefore gold -> rerun and replay. After each step the incremental tables equal a
from-scratch gold build on the same silver (value for value), each run writes exactly the rows that changed,
and every run's checks pass."""
import uuid

import pytest

from gold_story import gold, last_commit_keys, silver, table
from silver_bronze_data import simulate, write_trades

from crypto_pipeline.gold import checks
from crypto_pipeline.gold.tables import ANOMALIES, CORRELATION, PORTFOLIO, POSITIONS, RISK, SIGNALS

T0 = 1704153000000  # 2024-01-01 23:50 UTC: crosses a UTC day
ALL = (RISK, CORRELATION, PORTFOLIO, POSITIONS, SIGNALS, ANOMALIES)


def _closing_trade(trades, symbol, minute_ms):
    """The last trade of the first minute from ``minute_ms`` whose close it sets to a new price: held back, the
    minute closes at the trade before, so its late arrival changes a close (a return) and not only a volume."""
    while True:
        ts = sorted((t for t in trades if t[0] == symbol and minute_ms <= t[5] < minute_ms + 60_000),
                    key=lambda t: (t[5], t[1]))
        if len(ts) >= 2 and ts[-1][2] != ts[-2][2]:
            return ts[-1]
        minute_ms += 60_000


@pytest.fixture(scope="module")
def story(minio_stack):
    lake = f"s3a://{minio_stack.settings.minio.bucket}/it-gold/{uuid.uuid4().hex[:10]}"
    trades, _ = simulate({"BTCUSDT": 3.0, "ETHUSDT": 1.5, "SOLUSDT": 2.0}, T0, 40 * 60, seed=13)
    late = _closing_trade(trades, "BTCUSDT", T0 + 31 * 60_000)
    cut = T0 + 38 * 60_000
    return dict(lake=lake, bronze=f"{lake}/bronze/trades", silver=f"{lake}/silver/ohlcv", ind=f"{lake}/silver/indicators",
                state=f"{lake}/silver/indicator_state", start="2024-01-01T23:55:00Z", late=late,
                batch1=[t for t in trades if t[5] < cut and t is not late], batch2=[t for t in trades if t[5] >= cut],
                snapshots={})


def _equals_full_build(spark, st):
    """The incremental gold tables equal a from-scratch build on the same silver."""
    ref = f"{st['lake']}/ref-{uuid.uuid4().hex[:6]}"
    gold(spark, st, base=ref)
    for name in ALL:
        got, want = table(spark, st["lake"], name), table(spark, ref, name)
        assert got.keys() == want.keys(), (name, sorted(set(got) ^ set(want))[:3])
        bad = [k for k in want if got[k] != want[k]]
        assert not bad, (name, bad[:2], [(got[k], want[k]) for k in bad[:1]])
    return {name: table(spark, st["lake"], name) for name in ALL}


def _checks_pass(runs):
    r = runs[RISK]
    outs = [checks.risk_bounds(r.computed), checks.risk_complete(r.computed, r.origins, r.counts),
            checks.correlation_valid(runs[CORRELATION].computed),
            checks.portfolio_consistent(runs[PORTFOLIO].computed, runs[PORTFOLIO].positions),
            checks.signals_valid(runs[SIGNALS].computed), checks.anomalies_valid(runs[ANOMALIES].computed)]
    assert all(o.passed for o in outs), [o.sample for o in outs if not o.passed]


def test_1_full_build(spark, story):
    write_trades(spark, story["bronze"], story["batch1"])
    silver(spark, story)
    runs = gold(spark, story)
    assert all(r.full and not r.skipped for r in runs.values())
    _checks_pass(runs)
    snap = story["snapshots"]["1"] = _equals_full_build(spark, story)
    risk = snap[RISK]
    n1m = {s: sum(1 for k in risk if k[0] == s and k[1] == "1m" and k[2] == 10) for s in ("BTCUSDT", "ETHUSDT")}
    assert n1m["BTCUSDT"] >= 37 and n1m["BTCUSDT"] == n1m["ETHUSDT"]  # one row per final candle
    full = [v for k, v in risk.items() if k[1] == "1m" and k[2] == 10 and v[3] is not None]
    assert full and all(v[11] is not None for v in full)  # beta vs BTC present
    assert any(v[11] == 1.0 for k, v in risk.items() if k[0] == "BTCUSDT" and v[11] is not None)
    assert {k[3] for k in snap[CORRELATION]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    port = snap[PORTFOLIO]
    assert port and min(k[2] for k in port) == T0 + 5 * 60_000  # the timeline starts at the portfolio's start
    pos = {k[3] for k in snap[POSITIONS]}
    assert pos == {"BTCUSDT", "NEWUSDT", "ETHUSDT"}  # NEWUSDT has no candles: valued at cost, no crash
    dep = [v for k, v in port.items() if k[1] == "1m" and k[2] == T0 + 15 * 60_000 + 0][0]
    assert dep[2] == 2500.0  # net_flow of the deposit's bar (00:05 UTC)


def test_2_one_more_minute_writes_only_the_new_bars(spark, story):
    before = story["snapshots"]["1"]
    write_trades(spark, story["bronze"], story["batch2"])
    silver(spark, story)
    runs = gold(spark, story)
    assert not runs[RISK].full and runs[RISK].rows_written > 0
    # only bars after what each table holds: no stored rows read, written as inserts, priors from the checkpoint
    assert all(runs[t].inserted for t in (RISK, CORRELATION, PORTFOLIO, SIGNALS, ANOMALIES))
    _checks_pass(runs)
    after = _equals_full_build(spark, story)
    for name in (RISK, CORRELATION, PORTFOLIO):
        new = set(after[name]) - set(before[name])
        changed = {k for k in before[name] if after[name][k] != before[name][k]}
        assert not changed, (name, sorted(changed)[:3])  # history untouched
        assert last_commit_keys(spark, story["lake"], name) == new  # exactly the new rows were written
    story["snapshots"]["2"] = after


def test_3_late_trade_restates_exactly_the_affected_gold_rows(spark, story):
    before = story["snapshots"]["2"]
    write_trades(spark, story["bronze"], [story["late"]])
    silver(spark, story)
    runs = gold(spark, story)
    assert not runs[RISK].inserted and not runs[PORTFOLIO].inserted  # a restatement reads the stored rows
    _checks_pass(runs)
    after = _equals_full_build(spark, story)
    t_late = story["late"][5] - story["late"][5] % 60_000
    for name in (RISK, CORRELATION, PORTFOLIO, SIGNALS, ANOMALIES):
        changed = {k for k in set(after[name]) | set(before[name]) if after[name].get(k) != before[name].get(k)}
        written = last_commit_keys(spark, story["lake"], name)
        if name == RISK:
            assert changed, "the late BTC trade changed no risk row"
            assert {k[0] for k in changed if k[1] == "1m"} >= {"BTCUSDT", "ETHUSDT"}  # ETH via beta vs BTC
            assert all(k[3] >= t_late for k in changed if k[1] == "1m")
        gone = {k for k in before[name] if k not in after[name]}
        assert written == changed - gone, (name, sorted(written ^ (changed - gone))[:3])
    story["snapshots"]["3"] = after


def test_4_rerun_and_replay_write_nothing(spark, story):
    runs = gold(spark, story)
    assert all(r.skipped for r in runs.values())  # no new silver commit: no gold commit
    write_trades(spark, story["bronze"], [story["late"]])  # the same trade again: silver commits, changes nothing
    silver(spark, story)
    runs = gold(spark, story)
    assert all(r.rows_written == 0 and r.rows_deleted == 0 for r in runs.values())
    assert {n: table(spark, story["lake"], n) for n in ALL} == story["snapshots"]["3"]
