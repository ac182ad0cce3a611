"""Response shapes (the OpenAPI schema at /openapi.json). Prices and quantities are JSON numbers: the
serving tables keep them exact (numeric) and the shortest float repr of those values is the same decimal."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

F = float | None


class Ticker(BaseModel):
    symbol: str
    last_price: F = None
    best_bid: F = None
    best_bid_qty: F = None
    best_ask: F = None
    best_ask_qty: F = None
    price_change: F = None
    price_change_pct: F = None
    open_price: F = None
    high_price: F = None
    low_price: F = None
    volume: F = None
    quote_volume: F = None
    event_time_ms: int | None = None
    stats_event_time_ms: int | None = None
    book_event_time_ms: int | None = None
    source: str
    simulated: bool
    updated_at: str | None = None


class Candle(BaseModel):
    open_time_ms: int
    close_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: F = None
    trade_count: int | None = None
    is_final: bool
    sma_20: F = None
    sma_50: F = None
    sma_200: F = None
    ema_12: F = None
    ema_26: F = None
    ema_50: F = None
    rsi_14: F = None
    macd: F = None
    macd_signal: F = None
    macd_hist: F = None
    bb_upper: F = None
    bb_middle: F = None
    bb_lower: F = None
    source: str
    updated_at_ms: int | None = None


class CandlePage(BaseModel):
    symbol: str
    interval: str
    candles: list[Candle]
    simulated: bool
    next_from: int | None = None   # more rows after this page: ask again with from=next_from
    prev_to: int | None = None     # older rows before this page: ask again with to=prev_to


class RiskRow(BaseModel):
    symbol: str
    interval: str
    window_bars: int
    open_time_ms: int
    close: F = None
    volatility_ann: F = None
    var_95: F = None
    cvar_95: F = None
    var_99: F = None
    cvar_99: F = None
    max_drawdown: F = None
    sharpe: F = None
    sortino: F = None
    beta_btc: F = None
    updated_at_ms: int | None = None


class Correlation(BaseModel):
    interval: str
    window_bars: int
    open_time_ms: int | None
    symbols: list[str]
    matrix: list[list[float | None]]


class PortfolioPoint(BaseModel):
    open_time_ms: int
    value: F = None
    cash: F = None
    net_flow: F = None
    period_pnl: F = None
    period_return: F = None
    cumulative_pnl: F = None
    realised_pnl: F = None
    unrealised_pnl: F = None
    drawdown: F = None
    var_95: F = None
    cvar_95: F = None
    var_99: F = None
    cvar_99: F = None


class Position(BaseModel):
    symbol: str
    quantity: F = None
    price: F = None
    value: F = None
    weight: F = None
    avg_cost: F = None
    unrealised_pnl: F = None
    realised_pnl: F = None


class Portfolio(BaseModel):
    portfolio: str
    interval: str
    series: list[PortfolioPoint]
    positions: list[Position]
    latest: PortfolioPoint | None


class PortfolioSummary(BaseModel):
    portfolio: str
    intervals: list[str]


class Signal(BaseModel):
    symbol: str
    interval: str
    open_time_ms: int
    signal: str
    direction: int | None = None
    kind: str | None = None
    values_json: dict[str, Any] | None = None   # the inputs that triggered it
    close: F = None
    updated_at_ms: int | None = None


class Anomaly(BaseModel):
    symbol: str
    interval: str
    open_time_ms: int
    metric: str
    value: F = None
    mean: F = None
    std: F = None
    zscore: F = None
    window_bars: int | None = None
    updated_at_ms: int | None = None


class Layer(BaseModel):
    layer: str
    status: str              # ok / stale / empty / unknown
    last_ms: int | None      # newest data (or write) time of the layer, epoch ms
    age_s: float | None
    detail: str


class Health(BaseModel):
    now_ms: int
    source: str | None       # what the ingest service reads from (binance / simulator / replay)
    simulated: bool
    layers: list[Layer]
    dlq_messages: int | None
    unfilled_gaps: int | None        # missing 1m candles in the last 24 h, all symbols
    gaps_by_symbol: dict[str, int]
    live_listener: bool              # the dashboard's LISTEN connection is up
