"""Every gold check passes on rows the gold code computes, and is driven to fail by a row that breaks its rule."""
import json

import numpy as np
import pandas as pd
import pytest

from crypto_pipeline.assets.gold.assets import CHECKS, outcomes
from crypto_pipeline.gold import checks
from crypto_pipeline.gold.anomalies import anomaly_rows
from crypto_pipeline.gold.correlation import correlation_rows
from crypto_pipeline.gold.job import TableRun
from crypto_pipeline.gold.metrics import log_returns
from crypto_pipeline.gold.portfolio import portfolio_rows
from crypto_pipeline.gold.risk import risk_rows
from crypto_pipeline.gold.signals import signal_rows
from shared.portfolios import Portfolio

M = 60_000
N = 400
T = np.arange(N) * M


def _prices(seed):
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, N)))


@pytest.fixture(scope="module")
def risk():
    df = risk_rows("ETHUSDT", "1m", T, _prices(1), (20, 50), log_returns(_prices(2)), 0)
    counts = {"gold": {("ETHUSDT", "1m", 20): N, ("ETHUSDT", "1m", 50): N}, "silver": {("ETHUSDT", "1m"): N}}
    return df, {("ETHUSDT", "1m"): 0}, counts


def test_risk_checks_pass_then_fail(risk):
    df, origins, counts = risk
    assert checks.risk_bounds(df).passed and checks.risk_complete(df, origins, counts).passed
    for col, val in (("max_drawdown", 0.1), ("max_drawdown", -1.5), ("volatility_ann", -1.0), ("cvar_95", 0.0),
                     ("var_99", 1.5), ("sharpe", np.inf)):
        bad = df.copy()
        bad.loc[300, col] = val
        out = checks.risk_bounds(bad)
        assert not out.passed and out.failures >= 1 and "18000000" in out.sample[0], (col, out)  # row 300 = minute 300
    bad = df.copy()
    bad.loc[300, "var_95"] = np.nan  # NULL although the window is full
    assert not checks.risk_complete(bad, origins, counts).passed
    early = df.copy()
    early.loc[5, "var_95"] = np.nan  # inside the first window: allowed
    assert checks.risk_complete(early, origins, counts).passed
    short = {"gold": {**counts["gold"], ("ETHUSDT", "1m", 50): N - 1}, "silver": counts["silver"]}
    out = checks.risk_complete(df, origins, short)
    assert not out.passed and "gold 399 rows, silver 400" in out.sample[0]
    missing = {"gold": {}, "silver": {("BTCUSDT", "1m"): 3}}
    assert not checks.risk_complete(df.iloc[0:0], origins, missing).passed
    neg = df.copy()
    neg.loc[300, "var_95"] = -0.001
    assert checks.risk_var_nonnegative(df).passed and not checks.risk_var_nonnegative(neg).passed


def test_correlation_check_passes_then_fails():
    lr = pd.DataFrame({s: log_returns(_prices(k)) for k, s in enumerate(["A", "B", "C"])}, index=T)
    df = correlation_rows("1m", lr, (30,), 0)
    assert checks.correlation_valid(df).passed
    off = df.index[(df.symbol_a == "A") & (df.symbol_b == "B")][0]
    for value in (1.2, df.loc[off, "correlation"] + 0.01):
        bad = df.copy()
        bad.loc[off, "correlation"] = value  # out of range, or no longer equal to rho(B, A)
        assert not checks.correlation_valid(bad).passed
    diag = df.index[df.symbol_a == df.symbol_b][0]
    bad = df.copy()
    bad.loc[diag, "correlation"] = 0.99
    assert not checks.correlation_valid(bad).passed


def test_portfolio_check_passes_then_fails():
    p = Portfolio.model_validate({"name": "x", "start": "1970-01-01T00:00:00Z", "cash": 100,
                                  "holdings": [{"symbol": "AUSDT", "quantity": 2, "avg_cost": 90}]})
    port, pos = portfolio_rows(p, "1m", T, {"AUSDT": _prices(1)}, 20, 0, None)
    assert checks.portfolio_consistent(port, pos).passed
    for col, val in (("value", 1.0), ("drawdown", 0.2), ("cvar_95", 0.0)):
        bad = port.copy()
        bad.loc[200, col] = val
        assert not checks.portfolio_consistent(bad, pos).passed, col
    bad = pos.copy()
    bad.loc[200, "weight"] += 0.1
    assert not checks.portfolio_consistent(port, bad).passed


def test_signal_check_passes_then_fails():
    ind = pd.DataFrame({"open_time_ms": T[:4], "close": [10, 12, 9, 13.0], "sma_50": [1, 2, 3, 1.0],
                        "sma_200": [2, 1, 1, 2.0], "macd": np.nan, "macd_signal": np.nan, "macd_hist": np.nan,
                        "rsi_14": [25, 35, 75, 65.0], "bb_upper": [11, 11, 11, 11.0], "bb_lower": [9.5] * 4})
    df = signal_rows("A", "1m", ind, 0)
    assert set(df.signal) == {"golden_cross", "rsi_exit", "rsi_zone", "bb_breakout", "bb_state"}
    gc = df[df.signal == "golden_cross"]
    assert gc.direction.tolist() == [1, -1] and json.loads(gc.values_json.iloc[0]) == {
        "sma_50": 2.0, "sma_200": 1.0, "prev_sma_50": 1.0, "prev_sma_200": 2.0}
    assert checks.signals_valid(df).passed
    for col, val in (("direction", 0), ("kind", "state"), ("signal", "moon"), ("values_json", '{"x": NaN}')):
        bad = df.copy()
        bad.loc[bad.index[0], col] = val
        assert not checks.signals_valid(bad).passed, col


def test_anomaly_check_passes_then_fails():
    vol = np.full(N, 10.0) + np.random.default_rng(4).normal(0, 1, N)
    vol[200] = 50
    df = anomaly_rows("A", "1m", T, _prices(3), vol, 60, 0)
    assert (df.metric == "volume").any() and checks.anomalies_valid(df).passed
    for col, val in (("zscore", 1.0), ("std", 0.0), ("value", 1e9)):
        bad = df.copy()
        bad.loc[bad.index[0], col] = val
        assert not checks.anomalies_valid(bad).passed, col


def test_every_declared_check_has_an_outcome(risk):
    df, origins, counts = risk
    run = TableRun(skipped=False, computed=df, origins=origins, counts=counts)
    assert set(outcomes("risk", run)) == {n for n, _ in CHECKS["risk"]}
    assert all(o.passed for o in outcomes("signals", TableRun(skipped=True)).values())
