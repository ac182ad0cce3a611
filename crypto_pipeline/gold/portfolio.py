"""gold_portfolio and gold_portfolio_positions rows of one (portfolio, interval) (spec §4.9, §4.4, §4.5).

Conventions (README "Gold"):
* an event dated in bar t (open <= time < open + interval) is in the holdings and cash of bar t; the timeline
  starts at the first bar, at or after the portfolio's start, where one of its symbols has a final candle; the
  opening state (V_0) includes every event up to the end of that bar; deposits (+) and withdrawals (-) of
  later bars are the net flow F_t;
* realised PnL at average cost: a sell realises q * (price - avg cost); a buy moves the average cost; a position
  sold to zero has no average cost (NULL) and starts afresh;
* a symbol without a candle yet is valued at its average cost (price NULL, unrealised PnL 0) until its first
  candle: a config can list a coin before the pipeline ingests it;
* drawdown is V_t / max(V_0..V_t) - 1 (spec §4.5 on the portfolio value; a withdrawal shows as a drawdown);
* VaR/CVaR in currency: the historical fraction over the last W period returns times V_t, the value at the start
  of the one-bar horizon that follows bar t."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_pipeline.gold import metrics as m
from crypto_pipeline.gold.tables import PORTFOLIO, POSITIONS, columns
from crypto_pipeline.silver.intervals import INTERVAL_MS
from shared.portfolios import Portfolio


@dataclass(frozen=True)
class Prior:
    """What an incremental run needs from the rows it does not recompute: the first bar and its value (V_0),
    and the highest value before the recomputed range."""

    first_bar_ms: int
    first_value: float
    peak_before: float


def _snapshots(p: Portfolio, symbols: list[str]):
    """Ledger replayed: times (ms) of the events and, after k events (k = 0..n), the arrays
    quantity/avg_cost/realised per symbol, cash, and each event's net external flow."""
    idx = {s: i for i, s in enumerate(symbols)}
    q = np.zeros(len(symbols))
    avg = np.full(len(symbols), np.nan)
    real = np.zeros(len(symbols))
    for h in p.holdings:
        q[idx[h.symbol]], avg[idx[h.symbol]] = float(h.quantity), float(h.avg_cost)
    cash = float(p.cash)
    snaps = [(q.copy(), avg.copy(), real.copy(), cash)]
    times, flows = [], []
    for _, e in p.events():
        flow = 0.0
        if e.type in ("deposit", "withdrawal"):
            flow = float(e.amount) * (1 if e.type == "deposit" else -1)
            cash += flow
        else:
            i, qty, px = idx[e.symbol], float(e.quantity), float(e.price)
            if e.type == "buy":
                avg[i] = px if q[i] == 0 else (q[i] * avg[i] + qty * px) / (q[i] + qty)
                q[i] += qty
                cash -= qty * px
            else:
                real[i] += qty * (px - avg[i])
                q[i] -= qty
                if q[i] <= 1e-12 * qty:  # sold out (exact in the decimal replay; guard float residue)
                    q[i], avg[i] = 0.0, np.nan
                cash += qty * px
        times.append(e.time_ms)
        flows.append(flow)
        snaps.append((q.copy(), avg.copy(), real.copy(), cash))
    return np.array(times, dtype=np.int64), np.array(flows), snaps


def portfolio_rows(p: Portfolio, interval: str, times: np.ndarray, closes: dict[str, np.ndarray], window: int,
                   from_ms: int, prior: Prior | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows for bars >= ``from_ms``. ``times``: consecutive bars of the timeline (the first one is the timeline's
    first bar when ``prior`` is None); ``closes``: per symbol, float closes aligned to ``times`` (NaN = no candle
    yet). ``window``: period returns for VaR/CVaR."""
    size = INTERVAL_MS[interval]
    symbols = p.symbols()
    ev_t, ev_flow, snaps = _snapshots(p, symbols)
    first_bar = prior.first_bar_ms if prior else int(times[0])
    k = np.searchsorted(ev_t, times + size, side="left")  # events dated before the bar's end
    q = np.array([snaps[j][0] for j in k]).reshape(len(times), len(symbols))
    avg = np.array([snaps[j][1] for j in k]).reshape(len(times), len(symbols))
    real = np.array([snaps[j][2] for j in k]).reshape(len(times), len(symbols))
    cash = np.array([snaps[j][3] for j in k])
    # net flow of each bar after the first (events in or before the first bar are the opening state)
    cum_flow_ev = np.concatenate([[0.0], np.cumsum(ev_flow)])
    opening = np.searchsorted(ev_t, first_bar + size, side="left")
    sum_f = cum_flow_ev[k] - cum_flow_ev[opening]
    k_prev = np.searchsorted(ev_t, times, side="left")
    flow = np.where(times > first_bar, cum_flow_ev[k] - cum_flow_ev[np.maximum(k_prev, opening)], 0.0)

    px = np.column_stack([closes.get(s, np.full(len(times), np.nan)) for s in symbols]) if symbols \
        else np.zeros((len(times), 0))
    px = pd.DataFrame(px).ffill().to_numpy()  # the last known close; NaN only before a symbol's first candle
    held = np.where(q != 0, q, 0.0)
    at_cost = np.isnan(px)
    unit = np.where(at_cost, np.nan_to_num(avg), px)
    pos_value = held * unit
    value = cash + pos_value.sum(axis=1)
    unreal = np.where(at_cost | (held == 0), 0.0, held * (px - np.nan_to_num(avg)))

    prev_value = np.concatenate([[np.nan], value[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        period_ret = np.where(times > first_bar, (value - flow) / prev_value - 1.0, np.nan)
    period_pnl = np.where(times > first_bar, value - prev_value - flow, np.nan)
    v0 = prior.first_value if prior else value[0]
    start = int(np.searchsorted(times, from_ms))
    peak = np.maximum.accumulate(np.concatenate([[prior.peak_before if prior else -np.inf], value[start:]]))[1:]
    tails = m.rolling(period_ret, window, m.tail_risk, start=start, width=4) * value[:, None]

    sl = slice(start, None)
    port = pd.DataFrame({
        "portfolio": p.name, "interval": interval, "open_time_ms": times[sl], "value": value[sl], "cash": cash[sl],
        "net_flow": flow[sl], "period_pnl": period_pnl[sl], "period_return": period_ret[sl],
        "cumulative_pnl": (value - v0 - sum_f)[sl], "realised_pnl": real.sum(axis=1)[sl],
        "unrealised_pnl": unreal.sum(axis=1)[sl], "drawdown": value[sl] / peak - 1.0,
        "var_95": tails[sl, 0], "cvar_95": tails[sl, 1], "var_99": tails[sl, 2], "cvar_99": tails[sl, 3]})
    seen = np.maximum.accumulate((held != 0) | (real != 0), axis=0)  # a position once held stays listed
    pos = []
    for j, s in enumerate(symbols):
        rows = np.nonzero(seen[sl, j])[0] + start
        if len(rows):
            pos.append(pd.DataFrame({
                "portfolio": p.name, "interval": interval, "open_time_ms": times[rows], "symbol": s,
                "quantity": held[rows, j], "price": px[rows, j], "value": pos_value[rows, j],
                "weight": pos_value[rows, j] / value[rows], "avg_cost": avg[rows, j],
                "unrealised_pnl": unreal[rows, j], "realised_pnl": real[rows, j]}))
    positions = pd.concat(pos, ignore_index=True) if pos else pd.DataFrame(columns=columns(POSITIONS))
    return port[list(columns(PORTFOLIO))], positions[list(columns(POSITIONS))]
