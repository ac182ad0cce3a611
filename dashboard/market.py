"""Market endpoints: latest tickers, symbols, candles with indicators (paged)."""
from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response

from dashboard.db import CANDLE_SYMBOLS_CTE, fetch_all
from dashboard.models import CandlePage, Ticker
from dashboard.params import MAX_MS, FromQ, IntervalQ, SymbolQ, ToQ, bad_param

router = APIRouter(prefix="/api", tags=["market"])

TICKERS_SQL = """
select symbol, last_price::float8, best_bid::float8, best_bid_qty::float8, best_ask::float8, best_ask_qty::float8,
       price_change::float8, price_change_pct::float8, open_price::float8, high_price::float8, low_price::float8,
       volume::float8, quote_volume::float8, event_time_ms, stats_event_time_ms, book_event_time_ms, source,
       source <> 'binance' as simulated, updated_at::text
from latest_ticker order by symbol"""

SYMBOLS_SQL = CANDLE_SYMBOLS_CTE + """select symbol from s where symbol is not null
union select symbol from latest_ticker order by 1"""

# numeric -> float8 in the database: the chart wants numbers, and the cast is cheaper there than in Python
_CANDLE_COLS = """open_time_ms, close_time_ms, open::float8, high::float8, low::float8, close::float8,
  volume::float8, quote_volume::float8, trade_count, is_final, sma_20, sma_50, sma_200, ema_12, ema_26, ema_50,
  rsi_14, macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, source, updated_at_ms"""
CANDLES_FORWARD_SQL = f"""select {_CANDLE_COLS} from candles
 where symbol = %(symbol)s and "interval" = %(interval)s and open_time_ms between %(from)s and %(to)s
 order by open_time_ms limit %(n)s"""
CANDLES_LATEST_SQL = f"""select {_CANDLE_COLS} from candles
 where symbol = %(symbol)s and "interval" = %(interval)s and open_time_ms <= %(to)s
 order by open_time_ms desc limit %(n)s"""

LimitQ = Annotated[int, Query(ge=1, le=5000, description="rows per page")]


@router.get("/tickers", response_model=list[Ticker], summary="Latest ticker of every symbol")
async def tickers(request: Request) -> list[dict]:
    return await fetch_all(request.app.state.pool, TICKERS_SQL)


@router.get("/symbols", response_model=list[str], summary="Symbols with candles or a live ticker")
async def symbols(request: Request) -> list[str]:
    return [r["symbol"] for r in await fetch_all(request.app.state.pool, SYMBOLS_SQL)]


@router.get("/candles", response_model=CandlePage, summary="Candles with indicators, paged by open time",
            description="Without `from`: the newest `limit` candles up to `to` (`prev_to` pages back). "
                        "With `from`: candles from `from` on, oldest first (`next_from` pages forward).")
async def candles(request: Request, symbol: SymbolQ, interval: IntervalQ, from_ms: FromQ = None, to_ms: ToQ = None,
                  limit: LimitQ = 1000) -> Response:
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise bad_param("from", from_ms, f"must not be after to={to_ms}")
    page = await request.app.state.cache.get_or_build(
        (symbol, interval.value, from_ms, to_ms, limit), symbol,
        lambda: _build_page(request, symbol, interval.value, from_ms, to_ms, limit))
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(await page.gzipped(), media_type="application/json",
                        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(page.body, media_type="application/json", headers={"Vary": "Accept-Encoding"})


async def _build_page(request: Request, symbol: str, interval: str, from_ms: int | None, to_ms: int | None,
                      limit: int) -> bytes:
    params = {"symbol": symbol, "interval": interval, "to": MAX_MS if to_ms is None else to_ms, "n": limit + 1}
    pool = request.app.state.pool
    next_from = prev_to = None
    if from_ms is None:
        rows = await fetch_all(pool, CANDLES_LATEST_SQL, params)
        if len(rows) > limit:
            rows = rows[:limit]
            prev_to = rows[-1]["open_time_ms"] - 1
        rows.reverse()
    else:
        rows = await fetch_all(pool, CANDLES_FORWARD_SQL, {**params, "from": from_ms})
        if len(rows) > limit:
            next_from = rows[limit]["open_time_ms"]
            rows = rows[:limit]
    simulated = any(r["source"] != "binance" for r in rows)
    # the rows already have the response model's fields and types; orjson writes them without a model pass
    return orjson.dumps({"symbol": symbol, "interval": interval, "candles": rows, "simulated": simulated,
                         "next_from": next_from, "prev_to": prev_to})

