"""Gold endpoints: portfolios, risk, correlation, signals and anomalies (tables gold_* of the contract)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from dashboard.db import fetch_all
from dashboard.models import Anomaly, Correlation, Portfolio, PortfolioSummary, RiskRow, Signal
from dashboard.params import (MAX_MS, FromQ, IntervalQ, NameP, OptIntervalQ, OptSymbolQ, SymbolP, ToQ, WindowQ,
                              bad_param, window_for)

router = APIRouter(prefix="/api", tags=["analytics"])

LimitQ = Annotated[int, Query(ge=1, le=5000)]
FeedLimitQ = Annotated[int, Query(ge=1, le=1000)]
BeforeQ = Annotated[int | None, Query(ge=0, le=MAX_MS, description="only rows with open time before this, epoch ms")]

_RISK_COLS = """symbol, "interval", window_bars, open_time_ms, close, volatility_ann, var_95, cvar_95, var_99, cvar_99,
  max_drawdown, sharpe, sortino, beta_btc, updated_at_ms"""
# newest row per symbol: skip scan over the symbols, then one index probe each (the key leads with symbol)
RISK_LATEST_SQL = f"""
with recursive s(symbol) as (
  (select symbol from gold_risk order by symbol limit 1)
  union all
  select (select r.symbol from gold_risk r where r.symbol > s.symbol order by r.symbol limit 1) from s
  where s.symbol is not null)
select r.* from s cross join lateral (
  select {_RISK_COLS} from gold_risk g
  where g.symbol = s.symbol and g."interval" = %(interval)s and g.window_bars = %(window)s
  order by g.open_time_ms desc limit 1) r
where s.symbol is not null order by r.symbol"""
RISK_SERIES_SQL = f"""select {_RISK_COLS} from gold_risk
 where symbol = %(symbol)s and "interval" = %(interval)s and window_bars = %(window)s
   and open_time_ms between %(from)s and %(to)s
 order by open_time_ms desc limit %(n)s"""

CORRELATION_SQL = """
with t as (select max(open_time_ms) as t from gold_correlation where "interval" = %(interval)s and window_bars = %(window)s)
select c.open_time_ms, c.symbol_a, c.symbol_b, c.correlation from gold_correlation c, t
where c."interval" = %(interval)s and c.window_bars = %(window)s and c.open_time_ms = t.t
order by c.symbol_a, c.symbol_b"""

PORTFOLIOS_SQL = """select portfolio, array_agg(distinct "interval" order by "interval") as intervals
 from gold_portfolio group by portfolio order by portfolio"""
_POINT_COLS = """open_time_ms, value, cash, net_flow, period_pnl, period_return, cumulative_pnl, realised_pnl,
  unrealised_pnl, drawdown, var_95, cvar_95, var_99, cvar_99"""
PORTFOLIO_SERIES_SQL = f"""select {_POINT_COLS} from gold_portfolio
 where portfolio = %(name)s and "interval" = %(interval)s and open_time_ms between %(from)s and %(to)s
 order by open_time_ms desc limit %(n)s"""
POSITIONS_SQL = """select symbol, quantity, price, value, weight, avg_cost, unrealised_pnl, realised_pnl
 from gold_portfolio_positions
 where portfolio = %(name)s and "interval" = %(interval)s and open_time_ms = %(t)s order by value desc nulls last"""

SIGNALS_SQL = """select symbol, "interval", open_time_ms, signal, direction, kind, values_json, close, updated_at_ms
 from gold_signals
 where (%(symbol)s::text is null or symbol = %(symbol)s) and (%(interval)s::text is null or "interval" = %(interval)s)
   and open_time_ms < %(before)s
 order by open_time_ms desc, symbol, signal limit %(n)s"""
ANOMALIES_SQL = """select symbol, "interval", open_time_ms, metric, value, mean, std, zscore, window_bars, updated_at_ms
 from gold_anomalies
 where (%(symbol)s::text is null or symbol = %(symbol)s) and (%(interval)s::text is null or "interval" = %(interval)s)
   and open_time_ms < %(before)s
 order by open_time_ms desc, symbol, metric limit %(n)s"""


def _range(from_ms: int | None, to_ms: int | None) -> dict[str, int]:
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise bad_param("from", from_ms, f"must not be after to={to_ms}")
    return {"from": from_ms or 0, "to": MAX_MS if to_ms is None else to_ms}


@router.get("/risk", response_model=list[RiskRow], summary="Newest risk figures of every symbol")
async def risk_table(request: Request, interval: IntervalQ, window_bars: WindowQ = None) -> list[dict]:
    return await fetch_all(request.app.state.pool, RISK_LATEST_SQL,
                           {"interval": interval.value, "window": window_for(interval, window_bars)})


@router.get("/risk/{symbol}", response_model=list[RiskRow], summary="Risk series of one symbol, newest first")
async def risk_series(request: Request, symbol: SymbolP, interval: IntervalQ, window_bars: WindowQ = None,
                      from_ms: FromQ = None, to_ms: ToQ = None, limit: LimitQ = 500) -> list[dict]:
    return await fetch_all(request.app.state.pool, RISK_SERIES_SQL, {
        "symbol": symbol, "interval": interval.value, "window": window_for(interval, window_bars),
        **_range(from_ms, to_ms), "n": limit})


@router.get("/correlation", response_model=Correlation, summary="Newest correlation matrix")
async def correlation(request: Request, interval: IntervalQ, window_bars: WindowQ = None) -> dict:
    window = window_for(interval, window_bars)
    rows = await fetch_all(request.app.state.pool, CORRELATION_SQL, {"interval": interval.value, "window": window})
    symbols = sorted({r["symbol_a"] for r in rows} | {r["symbol_b"] for r in rows})
    index = {s: i for i, s in enumerate(symbols)}
    matrix: list[list[float | None]] = [[None] * len(symbols) for _ in symbols]
    for r in rows:
        matrix[index[r["symbol_a"]]][index[r["symbol_b"]]] = r["correlation"]
    return {"interval": interval.value, "window_bars": window, "open_time_ms": rows[0]["open_time_ms"] if rows else None,
            "symbols": symbols, "matrix": matrix}


@router.get("/portfolios", response_model=list[PortfolioSummary], summary="Portfolios and their intervals")
async def portfolios(request: Request) -> list[dict]:
    return await fetch_all(request.app.state.pool, PORTFOLIOS_SQL)


@router.get("/portfolios/{name}", response_model=Portfolio,
            summary="Value series (oldest first), newest positions, PnL and risk of one portfolio",
            responses={404: {"description": "no rows for this portfolio and interval"}})
async def portfolio(request: Request, name: NameP, interval: IntervalQ, from_ms: FromQ = None, to_ms: ToQ = None,
                    limit: LimitQ = 1000) -> dict:
    pool = request.app.state.pool
    series = await fetch_all(pool, PORTFOLIO_SERIES_SQL,
                             {"name": name, "interval": interval.value, **_range(from_ms, to_ms), "n": limit})
    if not series:
        raise HTTPException(404, f"portfolio {name!r} has no rows for interval {interval.value!r} in this range")
    series.reverse()
    latest = series[-1]
    positions = await fetch_all(pool, POSITIONS_SQL, {"name": name, "interval": interval.value,
                                                      "t": latest["open_time_ms"]})
    return {"portfolio": name, "interval": interval.value, "series": series, "positions": positions, "latest": latest}


@router.get("/signals", response_model=list[Signal], summary="Signal feed, newest first")
async def signals(request: Request, symbol: OptSymbolQ = None, interval: OptIntervalQ = None,
                  before: BeforeQ = None, limit: FeedLimitQ = 100) -> list[dict]:
    return await fetch_all(request.app.state.pool, SIGNALS_SQL, _feed(symbol, interval, before, limit))


@router.get("/anomalies", response_model=list[Anomaly], summary="Anomaly feed (flagged rows), newest first")
async def anomalies(request: Request, symbol: OptSymbolQ = None, interval: OptIntervalQ = None,
                    before: BeforeQ = None, limit: FeedLimitQ = 100) -> list[dict]:
    return await fetch_all(request.app.state.pool, ANOMALIES_SQL, _feed(symbol, interval, before, limit))


def _feed(symbol: str | None, interval, before: int | None, limit: int) -> dict:
    return {"symbol": symbol, "interval": interval.value if interval else None,
            "before": MAX_MS if before is None else before, "n": limit}
