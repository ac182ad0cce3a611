"""gold_signals rows of one series from its silver indicators (spec §4.10).

Events fire on the bar of a cross; states are written where they are not 0. Direction follows the spec's
table: +1 bullish (golden cross, MACD above its signal, RSI leaving 30 upwards or below 30, close breaking
above the upper band), -1 bearish."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from crypto_pipeline.gold.tables import SIGNALS, columns

SIGNAL_NAMES = ("golden_cross", "macd_cross", "rsi_exit", "rsi_zone", "bb_breakout", "bb_state")
EVENT, STATE = "event", "state"


def _prev(x: np.ndarray) -> np.ndarray:
    out = np.full(len(x), np.nan)
    out[1:] = x[:-1]
    return out


def cross_up(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a_{t-1} <= b_{t-1} and a_t > b_t, all four non-NaN (NaN compares False)."""
    return (_prev(a) <= _prev(b)) & (a > b)


def cross_down(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (_prev(a) >= _prev(b)) & (a < b)


def _direction(up: np.ndarray, down: np.ndarray) -> np.ndarray:
    return up.astype(int) - down.astype(int)


def signal_rows(symbol: str, interval: str, ind: pd.DataFrame, from_ms: int) -> pd.DataFrame:
    """``ind``: the series' silver indicator rows (open_time_ms ascending, close and the §2 outputs, NaN
    for NULL); rows for bars >= ``from_ms`` with direction != 0."""
    c = {k: ind[k].to_numpy(dtype=float) for k in ("close", "sma_50", "sma_200", "macd", "macd_signal",
                                                    "macd_hist", "rsi_14", "bb_upper", "bb_lower")}
    rsi, close = c["rsi_14"], c["close"]
    thirty, seventy = np.full(len(rsi), 30.0), np.full(len(rsi), 70.0)
    rules = {
        "golden_cross": (EVENT, _direction(cross_up(c["sma_50"], c["sma_200"]), cross_down(c["sma_50"], c["sma_200"])),
                         ("sma_50", "sma_200")),
        "macd_cross": (EVENT, _direction(cross_up(c["macd"], c["macd_signal"]), cross_down(c["macd"], c["macd_signal"])),
                       ("macd", "macd_signal", "macd_hist")),
        "rsi_exit": (EVENT, _direction(cross_up(rsi, thirty), cross_down(rsi, seventy)), ("rsi_14",)),
        "rsi_zone": (STATE, _direction(rsi < 30.0, rsi > 70.0), ("rsi_14",)),
        "bb_breakout": (EVENT, _direction(cross_up(close, c["bb_upper"]), cross_down(close, c["bb_lower"])),
                        ("close", "bb_upper", "bb_lower")),
        "bb_state": (STATE, _direction(close > c["bb_upper"], close < c["bb_lower"]), ("close", "bb_upper", "bb_lower")),
    }
    times = ind["open_time_ms"].to_numpy(dtype=np.int64)
    start = int(np.searchsorted(times, from_ms))
    rows = []
    for name, (kind, direction, inputs) in rules.items():
        for i in np.nonzero(direction[start:])[0] + start:
            vals = {k: float(c[k][i]) for k in inputs}
            if kind == EVENT:  # the previous bar's values are part of what triggered a cross
                vals.update({f"prev_{k}": float(c[k][i - 1]) for k in inputs})
            rows.append((symbol, interval, int(times[i]), name, int(direction[i]), kind,
                         json.dumps(vals, sort_keys=True), float(close[i])))
    return pd.DataFrame(rows, columns=list(columns(SIGNALS)))
