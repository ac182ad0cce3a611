"""The worked examples of spec §4.4, §4.7, §4.9 (in test_portfolio_ledger.py), §4.11 and §4.12, exactly."""
import math

import numpy as np
import pandas as pd
import pytest

from crypto_pipeline.gold import metrics as m
from crypto_pipeline.gold.anomalies import anomaly_rows
from crypto_pipeline.gold.risk import risk_rows

DAY = 86_400_000


def test_4_4_var_cvar_example():
    r = np.array([[-0.05, -0.03, -0.02, -0.015, -0.01, -0.005, 0, 0.002, 0.004, 0.006, 0.008, 0.01, 0.012, 0.014,
                   0.016, 0.018, 0.02, 0.025, 0.03, 0.04]])
    r = r[:, np.random.default_rng(1).permutation(20)]  # order in the window does not matter
    var95, cvar95 = m.var_cvar(r, 95)
    var99, cvar99 = m.var_cvar(r, 99)
    assert var95[0] == pytest.approx(0.031, rel=1e-12) and cvar95[0] == pytest.approx(0.05, rel=1e-12)
    assert var99[0] == pytest.approx(0.0462, rel=1e-12) and cvar99[0] == pytest.approx(0.05, rel=1e-12)
    assert np.array_equal(m.tail_risk(r)[0], [var95[0], cvar95[0], var99[0], cvar99[0]])


def test_4_7_beta_example():
    btc = np.array([[0.01, -0.02, 0.015, 0.03, -0.01]])
    a = np.array([[0.02, -0.03, 0.01, 0.05, -0.02]])
    assert m.beta(a, btc)[0] == pytest.approx(1.5625, rel=1e-12)
    assert m.beta(btc, btc)[0] == 1.0  # beta of BTCUSDT is exactly 1
    assert m.correlation(a, btc)[0] == pytest.approx(0.973714, abs=5e-7)


def test_4_11_zscore_example():
    prev = [10, 12, 11, 9, 10, 11, 10, 12, 9, 10]
    vol = np.array(prev + [30], dtype=float)
    z, mu, sd = m.zscore(vol, 10)
    assert mu[10] == pytest.approx(10.4, rel=1e-12) and sd[10] == pytest.approx(1.074968, rel=1e-6)
    assert z[10] == pytest.approx(18.23, abs=5e-3) and np.isnan(z[:10]).all()
    rows = anomaly_rows("X", "1m", np.arange(11) * 60_000, np.full(11, 100.0), vol, 10, 0)
    assert list(rows.metric) == ["volume"] and rows.open_time_ms.tolist() == [600_000]  # flat price: s = 0, no flag


def test_4_12_worked_example():
    p = np.array([100, 102, 99, 101, 105, 103], dtype=float)
    r, lr = m.simple_returns(p), m.log_returns(p)
    assert np.allclose(r[1:], [0.02, -0.0294118, 0.0202020, 0.0396040, -0.0190476], atol=5e-8)
    assert np.allclose(lr[1:], [0.0198026, -0.0298530, 0.0200007, 0.0388398, -0.0192314], atol=5e-8)
    rows = risk_rows("X", "1d", np.arange(6) * DAY, p, (5,), None, 0)
    last = rows.iloc[-1]
    assert last.sharpe == pytest.approx(4.10347, abs=5e-6)
    assert last.sortino == pytest.approx(7.64323, abs=5e-6)
    assert last.volatility_ann == pytest.approx(0.555935, abs=5e-7)
    assert last.max_drawdown == pytest.approx(-0.0294118, abs=5e-8)
    assert rows.iloc[:5][["volatility_ann", "sharpe", "max_drawdown", "var_95"]].isna().all().all()  # window not full
    assert math.isnan(last.beta_btc)  # no benchmark given


def test_drawdown_counts_the_start_as_a_peak():
    assert m.max_drawdown(np.array([[-0.1, 0.05]]))[0] == pytest.approx(-0.1)
    assert m.max_drawdown(np.array([[0.1, 0.2]]))[0] == 0.0


def test_incremental_tail_is_bit_identical_to_full_build():
    rng = np.random.default_rng(3)
    p = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))
    t = np.arange(3000) * 60_000
    bench = m.log_returns(p * np.exp(rng.normal(0, 0.002, 3000)))
    full = risk_rows("X", "1m", t, p, (1440,), bench, 0)
    tail = risk_rows("X", "1m", t[1000:], p[1000:], (1440,), bench[1000:], t[2500])
    pd.testing.assert_frame_equal(full[full.open_time_ms >= t[2500]].reset_index(drop=True), tail, check_exact=True)
