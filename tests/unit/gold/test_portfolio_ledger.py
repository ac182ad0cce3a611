"""Portfolio ledger validation (file/field/value errors) and valuation: spec §4.9's example, a deposit mid-series,
average-cost PnL, a symbol with no candles yet, currency VaR, and an incremental tail equal to a full build."""
import numpy as np
import pandas as pd
import pytest

from crypto_pipeline.gold.portfolio import Prior, portfolio_rows
from shared.portfolios import Portfolio, load_portfolios
from shared.settings import ROOT, SettingsError

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
H = 3_600_000


def _load(tmp_path, text):
    f = tmp_path / "portfolio.yaml"
    f.write_text(text)
    return load_portfolios(f)


def test_the_shipped_file_is_valid():
    cfg = load_portfolios(ROOT / "config" / "portfolio.yaml")
    assert cfg.portfolios and cfg.portfolios[0].symbols()


def test_sell_more_than_held_names_file_entry_and_event(tmp_path):
    with pytest.raises(SettingsError) as e:
        _load(tmp_path, """portfolios:
  - name: p1
    start: "2024-01-01T00:00:00Z"
    holdings: [{symbol: BTCUSDT, quantity: 0.5, avg_cost: 40000}]
    ledger:
      - {time: "2024-01-01T02:00:00Z", type: sell, symbol: BTCUSDT, quantity: 0.7, price: 41000}
""")
    msg = str(e.value)
    assert "portfolio.yaml" in msg and "portfolios[0] (p1)" in msg and "ledger[0]" in msg
    assert "sells 0.7 BTCUSDT but only 0.5 is held" in msg


@pytest.mark.parametrize("bad, needle", [
    ("{time: '2024-01-01T01:00:00Z', type: buy, symbol: BTCUSDT, quantity: 1, price: 50000}", "but the cash is 1000"),
    ("{time: '2024-01-01T01:00:00Z', type: withdrawal, amount: 2000}", "withdraws 2000 but the cash is 1000"),
    ("{time: '2023-12-31T00:00:00Z', type: deposit, amount: 5}", "before the portfolio's start"),
    ("{time: '2024-01-01T01:00:00Z', type: buy, symbol: btc, quantity: 1, price: 5}", "upper case"),
    ("{time: '2024-01-01T01:00:00Z', type: deposit, amount: -5}", "'ledger.0.amount' = -5"),
    ("{time: '2024-01-01T01:00:00Z', type: deposit, symbol: BTCUSDT, amount: 5}", "needs amount only"),
])
def test_bad_ledger_entries_are_refused_with_the_value(tmp_path, bad, needle):
    with pytest.raises(SettingsError) as e:
        _load(tmp_path, f"""portfolios:
  - name: p1
    start: "2024-01-01T00:00:00Z"
    cash: 1000
    ledger: [{bad}]
""")
    assert needle in str(e.value) and "portfolios[0] (p1)" in str(e.value)


def test_unknown_interval_and_duplicate_names(tmp_path):
    with pytest.raises(SettingsError, match="field 'intervals' = \\['2m'\\]: unknown interval '2m'"):
        _load(tmp_path, "portfolios: [{name: a, start: '2024-01-01T00:00:00Z', intervals: [2m]}]")
    with pytest.raises(SettingsError, match="'a' is used twice"):
        _load(tmp_path, "portfolios: [{name: a, start: '2024-01-01T00:00:00Z'}, {name: a, start: '2024-01-01T00:00:00Z'}]")


def _p(**kw) -> Portfolio:
    return Portfolio.model_validate({"name": "t", "start": "2024-01-01T00:00:00Z", **kw})


def test_4_9_example():
    p = _p(cash=1000, holdings=[{"symbol": "BTCUSDT", "quantity": 0.5, "avg_cost": 60000},
                                {"symbol": "ETHUSDT", "quantity": 10, "avg_cost": 3000}])
    times = np.array([T0, T0 + H])
    port, pos = portfolio_rows(p, "1h", times, {"BTCUSDT": np.array([60000.0, 61200.0]),
                                                "ETHUSDT": np.array([3000.0, 2970.0])}, 5, T0, None)
    assert port.value.tolist() == [61000.0, 61300.0]
    assert port.period_pnl.iloc[1] == pytest.approx(300.0) and port.period_return.iloc[1] == pytest.approx(0.0049180, abs=5e-8)
    w0 = pos[pos.open_time_ms == T0].set_index("symbol").weight
    assert port.period_return.iloc[1] == pytest.approx(w0["BTCUSDT"] * 0.02 + w0["ETHUSDT"] * -0.01, rel=1e-12)
    assert port.unrealised_pnl.iloc[1] == pytest.approx(0.5 * 1200 - 10 * 30)
    assert np.isnan(port.period_pnl.iloc[0]) and port.cumulative_pnl.iloc[1] == pytest.approx(300.0)


def test_deposit_mid_series_is_not_pnl_and_average_cost_realises():
    p = _p(cash=1000, holdings=[{"symbol": "BTCUSDT", "quantity": 1, "avg_cost": 100}], ledger=[
        {"time": "2024-01-01T02:30:00Z", "type": "deposit", "amount": 500},
        {"time": "2024-01-01T03:10:00Z", "type": "buy", "symbol": "BTCUSDT", "quantity": 1, "price": 130},
        {"time": "2024-01-01T04:00:00Z", "type": "sell", "symbol": "BTCUSDT", "quantity": 1.5, "price": 150}])
    times = T0 + H * np.arange(6)
    btc = np.array([100.0, 110.0, 120.0, 130.0, 150.0, 140.0])
    port, pos = portfolio_rows(p, "1h", times, {"BTCUSDT": btc}, 3, T0, None)
    assert port.net_flow.tolist() == [0, 0, 500, 0, 0, 0]
    assert port.value.tolist() == [1100, 1110, 1620, 1630, 1670, 1665]
    assert port.period_pnl.tolist()[1:] == [10, 10, 10, 40, -5]  # the 500 deposit is no gain
    assert port.cumulative_pnl.tolist()[-1] == pytest.approx(1665 - 1100 - 500)
    # avg cost after the buy: (100 + 130) / 2 = 115; selling 1.5 at 150 realises 1.5 * 35
    last = pos.iloc[-1]
    assert last.avg_cost == 115 and last.realised_pnl == pytest.approx(52.5) and last.quantity == pytest.approx(0.5)
    assert port.realised_pnl.iloc[-1] == pytest.approx(52.5)
    assert port.unrealised_pnl.iloc[-1] == pytest.approx(0.5 * (140 - 115))
    # cumulative PnL = realised + unrealised - the opening unrealised (1 BTC bought at 100, valued at 100)
    assert port.cumulative_pnl.iloc[-1] == pytest.approx(port.realised_pnl.iloc[-1] + port.unrealised_pnl.iloc[-1])
    assert port.drawdown.iloc[-1] == pytest.approx(1665 / 1670 - 1)
    r = port.period_return.to_numpy()[3:6]  # window of 3 returns at the last bar
    s = np.sort(r)
    var95 = -(s[0] + 0.1 * (s[1] - s[0]))
    assert port.var_95.iloc[-1] == pytest.approx(var95 * 1665, rel=1e-12) and np.isnan(port.var_95.iloc[2])


def test_symbol_without_candles_is_valued_at_cost_then_priced():
    p = _p(cash=0, holdings=[{"symbol": "BTCUSDT", "quantity": 1, "avg_cost": 100},
                             {"symbol": "NEWUSDT", "quantity": 10, "avg_cost": 2}])
    times = T0 + H * np.arange(3)
    port, pos = portfolio_rows(p, "1h", times, {"BTCUSDT": np.array([100.0, 101, 102]),
                                                "NEWUSDT": np.array([np.nan, np.nan, 3.0])}, 2, T0, None)
    assert port.value.tolist() == [120, 121, 132]
    new = pos[pos.symbol == "NEWUSDT"]
    assert new.price.isna().tolist() == [True, True, False] and new.unrealised_pnl.tolist() == [0, 0, 10]
    port2, _ = portfolio_rows(p, "1h", times, {"BTCUSDT": np.array([100.0, 101, 102])}, 2, T0, None)  # never listed
    assert port2.value.tolist() == [120, 121, 122]


def test_incremental_tail_equals_full_build():
    p = _p(cash=5000, holdings=[{"symbol": "BTCUSDT", "quantity": 1, "avg_cost": 100}], ledger=[
        {"time": "2024-01-01T05:00:00Z", "type": "deposit", "amount": 500},
        {"time": "2024-01-01T23:00:00Z", "type": "sell", "symbol": "BTCUSDT", "quantity": 0.5,
         "price": 120}])
    n = 40
    times = T0 + H * np.arange(n)
    btc = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.02, n)))
    full, fpos = portfolio_rows(p, "1h", times, {"BTCUSDT": btc}, 10, T0, None)
    cut = 30
    prior = Prior(T0, float(full.value.iloc[0]), float(full.value.iloc[:cut].max()))
    tail, tpos = portfolio_rows(p, "1h", times[15:], {"BTCUSDT": btc[15:]}, 10, int(times[cut]), prior)
    pd.testing.assert_frame_equal(full.iloc[cut:].reset_index(drop=True), tail, check_exact=True)
    pd.testing.assert_frame_equal(fpos[fpos.open_time_ms >= times[cut]].reset_index(drop=True), tpos, check_exact=True)
