"""Serving rows for the dashboard tests and benchmark, written by the pipeline_writer role as the syncs
would: a day of 1m candles (+1h) with indicators for a few symbols, latest tickers, gold risk,
correlation, a portfolio with positions, signals and anomalies, sync_state. One symbol is `binance`,
the others `simulator`, so the SIMULATED badge has something to switch on and off."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg

SOURCES = {"BTCUSDT": "binance", "ETHUSDT": "simulator", "SOLUSDT": "simulator"}
START_PRICE = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}
IND = ["sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "ema_50", "rsi_14", "macd", "macd_signal", "macd_hist",
       "bb_upper", "bb_middle", "bb_lower"]
CANDLE_COLS = ["symbol", "interval", "open_time_ms", "close_time_ms", "open", "high", "low", "close", "volume",
               "quote_volume", "taker_buy_base_volume", "taker_buy_quote_volume", "trade_count", "first_trade_id",
               "last_trade_id", "is_final", *IND, "source", "updated_at_ms"]


@dataclass(frozen=True)
class Seeded:
    now_ms: int
    last_open_ms: dict[str, int]      # newest 1m open time per symbol
    closes: dict[str, float]          # newest 1m close per symbol


def _indicators(close: pd.Series) -> pd.DataFrame:
    """Plausible values for display (the silver layer's TA-Lib-exact ones are tested there)."""
    out = pd.DataFrame(index=close.index)
    for n in (20, 50, 200):
        out[f"sma_{n}"] = close.rolling(n).mean()
    for n in (12, 26, 50):
        out[f"ema_{n}"] = close.ewm(span=n, adjust=False, min_periods=n).mean()
    diff = close.diff()
    gain = diff.clip(lower=0).ewm(alpha=1 / 14, min_periods=14).mean()
    loss = (-diff.clip(upper=0)).ewm(alpha=1 / 14, min_periods=14).mean()
    out["rsi_14"] = 100 - 100 / (1 + gain / loss)
    out["macd"] = out["ema_12"] - out["ema_26"]
    out["macd_signal"] = out["macd"].ewm(span=9, adjust=False, min_periods=9).mean()
    out["macd_hist"] = out["macd"] - out["macd_signal"]
    mid, sd = close.rolling(20).mean(), close.rolling(20).std(ddof=0)
    out["bb_middle"], out["bb_upper"], out["bb_lower"] = mid, mid + 2 * sd, mid - 2 * sd
    return out


def candle_rows(symbol: str, interval_ms: int, n: int, end_open_ms: int, rng: np.random.Generator) -> list[tuple]:
    label = {60_000: "1m", 3_600_000: "1h"}[interval_ms]
    opens = end_open_ms - interval_ms * np.arange(n)[::-1]
    steps = rng.normal(0, 0.0015 * np.sqrt(interval_ms / 60_000), n)
    close = pd.Series(START_PRICE[symbol] * np.exp(np.cumsum(steps))).round(2)
    open_ = close.shift(1).fillna(close.iloc[0])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n))
    vol = rng.uniform(1, 50, n).round(4)
    ind = _indicators(close)[IND].astype(object).where(lambda d: d.notna(), None)
    rows = []
    for i in range(n):
        rows.append((symbol, label, int(opens[i]), int(opens[i]) + interval_ms - 1, float(open_[i]),
                     round(float(high[i]), 2), round(float(low[i]), 2), float(close[i]), float(vol[i]),
                     round(float(vol[i] * close[i]), 4), float(vol[i]) / 2, round(float(vol[i] * close[i] / 2), 4),
                     100 + i, 1000 * i, 1000 * i + 99, i < n - 1, *ind.iloc[i].tolist(), SOURCES[symbol],
                     int(opens[i]) + interval_ms))
    return rows


def _copy(cur: psycopg.Cursor, table: str, cols: list[str], rows: list[tuple]) -> None:
    with cur.copy(f"copy {table} ({', '.join(cols)}) from stdin") as cp:
        for r in rows:
            cp.write_row(r)


def seed(conn: psycopg.Connection, now_ms: int | None = None, minutes: int = 1440, seed_: int = 7) -> Seeded:
    """Replace the serving tables' content with a fresh, deterministic day (one transaction)."""
    now_ms = now_ms or int(time.time() * 1000)
    rng = np.random.default_rng(seed_)
    last_1m = now_ms - now_ms % 60_000
    last_1h = now_ms - now_ms % 3_600_000
    closes, last_open = {}, {}
    with conn.transaction(), conn.cursor() as cur:
        for t in ("candles", "latest_ticker", "gold_risk", "gold_correlation", "gold_portfolio",
                  "gold_portfolio_positions", "gold_signals", "gold_anomalies", "sync_state"):
            cur.execute(f"delete from {t}")
        for sym in SOURCES:
            m1 = candle_rows(sym, 60_000, minutes, last_1m, rng)
            _copy(cur, "candles", CANDLE_COLS, m1 + candle_rows(sym, 3_600_000, 500, last_1h, rng))
            closes[sym], last_open[sym] = m1[-1][7], m1[-1][2]
            cur.execute("""insert into latest_ticker (symbol, last_price, event_time_ms, price_change, price_change_pct,
                           open_price, high_price, low_price, volume, quote_volume, stats_event_time_ms, best_bid,
                           best_bid_qty, best_ask, best_ask_qty, book_update_id, book_event_time_ms, source)
                           values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)""",
                        (sym, closes[sym], now_ms, 12.5, 0.4, closes[sym] - 12.5, closes[sym] * 1.01,
                         closes[sym] * 0.99, 1234.5, 5.0e7, now_ms, closes[sym] - 0.01, 1.5, closes[sym] + 0.01, 2.0,
                         1, now_ms, SOURCES[sym]))
        syms = list(SOURCES)
        for k, sym in enumerate(syms):
            cur.execute("""insert into gold_risk (symbol, interval, window_bars, open_time_ms, close, simple_return,
                           log_return, volatility_ann, var_95, cvar_95, var_99, cvar_99, max_drawdown, sharpe, sortino,
                           beta_btc, updated_at_ms) values (%s,'1d',30,%s,%s,0.01,0.00995,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)""",
                        (sym, last_1m - last_1m % 86_400_000, closes[sym], 0.5 + k / 10, -0.03 - k / 100,
                         -0.045 - k / 100, -0.06, -0.08, -0.2 - k / 20, 1.1 - k / 5, 1.4 - k / 5, 1.0 - k / 10, now_ms))
            for sym_b in syms:
                cur.execute("""insert into gold_correlation (interval, window_bars, open_time_ms, symbol_a, symbol_b,
                               correlation, updated_at_ms) values ('1d', 30, %s, %s, %s, %s, %s)""",
                            (last_1m - last_1m % 86_400_000, sym, sym_b,
                             1.0 if sym == sym_b else 0.8 - 0.3 * abs(k - syms.index(sym_b)), now_ms))
            cur.execute("""insert into gold_signals (symbol, interval, open_time_ms, signal, direction, kind, values_json,
                           close, updated_at_ms) values (%s, '1m', %s, 'macd_cross', %s, 'event', %s, %s, %s)""",
                        (sym, last_1m - 60_000 * (k + 1), 1 if k % 2 == 0 else -1,
                         json.dumps({"macd": 1.5, "macd_signal": 1.2}), closes[sym], now_ms))
            cur.execute("""insert into gold_anomalies (symbol, interval, open_time_ms, metric, value, mean, std, zscore,
                           window_bars, updated_at_ms) values (%s, '1m', %s, 'volume', 480, 25, 12, 37.9, 1440, %s)""",
                        (sym, last_1m - 60_000 * (k + 3), now_ms))
        day = 86_400_000
        value = 100_000.0
        peak = value
        for d in range(30, -1, -1):
            t = last_1m - last_1m % day - d * day
            pnl = float(rng.normal(150, 900))
            value += pnl
            peak = max(peak, value)
            cur.execute("""insert into gold_portfolio (portfolio, interval, open_time_ms, value, cash, net_flow,
                           period_pnl, period_return, cumulative_pnl, realised_pnl, unrealised_pnl, drawdown, var_95,
                           cvar_95, var_99, cvar_99, updated_at_ms)
                           values ('demo', '1d', %s, %s, 20000, 0, %s, %s, %s, 0, %s, %s, -2100, -2900, -3500, -4400, %s)""",
                        (t, value, pnl, pnl / value, value - 100_000, value - 100_000, value / peak - 1, now_ms))
        for sym, qty in (("BTCUSDT", 0.8), ("ETHUSDT", 6.0), ("SOLUSDT", 40.0)):
            cur.execute("""insert into gold_portfolio_positions (portfolio, interval, open_time_ms, symbol, quantity,
                           price, value, weight, avg_cost, unrealised_pnl, realised_pnl, updated_at_ms)
                           values ('demo', '1d', %s, %s, %s, %s, %s, %s, %s, %s, 0, %s)""",
                        (last_1m - last_1m % day, sym, qty, closes[sym], qty * closes[sym], qty * closes[sym] / value,
                         closes[sym] * 0.95, qty * closes[sym] * 0.05, now_ms))
        instant = time.strftime("%Y%m%d%H%M%S", time.gmtime(now_ms / 1000)) + "000"
        for t in ("candles", "gold_risk", "gold_correlation", "gold_portfolio", "gold_portfolio_positions",
                  "gold_signals", "gold_anomalies"):
            cur.execute("insert into sync_state (table_name, last_synced_commit, rows_last_sync) values (%s, %s, 1)",
                        (t, instant))
    return Seeded(now_ms, last_open, closes)
