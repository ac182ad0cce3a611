"""Gold metrics against independent references at relative tolerance 1e-9: empyrical-reloaded (with
``annualization`` = the interval's N) for Sharpe, Sortino, historical VaR/CVaR, max drawdown and beta on
10,000+ returns, and pandas rolling correlation for the matrix. (VaR is never compared with quantstats:
its VaR is parametric.)"""
import empyrical as ep
import numpy as np
import pandas as pd
import pytest

from crypto_pipeline.gold import metrics as m
from crypto_pipeline.gold.correlation import correlation_rows
from crypto_pipeline.gold.risk import risk_rows
from crypto_pipeline.gold.tables import PERIODS_PER_YEAR

REL = 1e-9
N = 12_001  # closes -> 12,000 returns


def _walk(seed: int, n: int = N, vol: float = 0.002) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 30_000 * np.exp(np.cumsum(rng.standard_t(4, n) * vol))


@pytest.fixture(scope="module")
def series():
    btc = _walk(1)
    alt = btc * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.001, N))) / 10
    return np.arange(N) * 60_000, btc, alt


@pytest.mark.parametrize("interval", ["1m", "1h", "1d"])
def test_risk_matches_empyrical_over_10000_returns(series, interval):
    t, btc, alt = series
    w, ann = 10_000, PERIODS_PER_YEAR[interval]
    rows = risk_rows("ALT", interval, t, alt, (w,), m.log_returns(btc), int(t[-3]))
    assert len(rows) == 3
    for k, row in enumerate(rows.itertuples()):
        end = N - 3 + k
        r = m.simple_returns(alt)[end - w + 1:end + 1]
        lr, lb = m.log_returns(alt)[end - w + 1:end + 1], m.log_returns(btc)[end - w + 1:end + 1]
        assert row.sharpe == pytest.approx(ep.sharpe_ratio(r, annualization=ann), rel=REL)
        assert row.sortino == pytest.approx(ep.sortino_ratio(r, annualization=ann), rel=REL)
        assert row.var_95 == pytest.approx(-ep.value_at_risk(r, cutoff=0.05), rel=REL)
        assert row.var_99 == pytest.approx(-ep.value_at_risk(r, cutoff=0.01), rel=REL)
        assert row.cvar_95 == pytest.approx(-ep.conditional_value_at_risk(r, cutoff=0.05), rel=REL)
        assert row.cvar_99 == pytest.approx(-ep.conditional_value_at_risk(r, cutoff=0.01), rel=REL)
        assert row.max_drawdown == pytest.approx(ep.max_drawdown(r), rel=REL)
        assert row.beta_btc == pytest.approx(ep.beta(lr, lb), rel=REL)
        assert row.volatility_ann == pytest.approx(np.std(lr, ddof=1) * np.sqrt(ann), rel=REL)


def test_rf_sets_the_per_period_excess_return(series):
    t, btc, _ = series
    rows = risk_rows("BTC", "1d", t[-400:], btc[-400:], (365,), None, int(t[-1]), rf_annual=0.04)
    r = m.simple_returns(btc)[-365:]
    rf = 1.04 ** (1 / 365) - 1
    assert rows.iloc[-1].sharpe == pytest.approx(ep.sharpe_ratio(r, risk_free=rf, annualization=365), rel=REL)
    assert rows.iloc[-1].sortino == pytest.approx(ep.sortino_ratio(r, required_return=rf, annualization=365), rel=REL)


def test_correlation_matrix_matches_pandas_rolling_corr():
    n, w = 2_000, 500
    t = np.arange(n) * 60_000
    rng = np.random.default_rng(5)
    base = rng.normal(0, 0.01, n)
    prices = {s: 100 * np.exp(np.cumsum(base * k + rng.normal(0, 0.01, n))) for s, k in
              (("BTCUSDT", 1.0), ("ETHUSDT", 0.8), ("SOLUSDT", -0.3))}
    lr = pd.DataFrame({s: m.log_returns(p) for s, p in prices.items()}, index=t)
    lr.loc[:t[300], "SOLUSDT"] = np.nan  # SOL starts later: it joins once its window is full
    got = correlation_rows("1m", lr, (w,), int(t[n - 50]))
    ref = lr.rolling(w, min_periods=w).corr()
    assert len(got) == 50 * 9
    for row in got.itertuples():
        assert row.correlation == pytest.approx(ref.loc[(row.open_time_ms, row.symbol_a), row.symbol_b], rel=REL)
    early = correlation_rows("1m", lr, (w,), int(t[w + 100]))
    first = early[early.open_time_ms == t[w + 100]]
    assert set(first.symbol_a) == {"BTCUSDT", "ETHUSDT"}  # SOL's window is not full yet: not in the matrix
    assert (first[first.symbol_a == first.symbol_b].correlation == 1.0).all()
