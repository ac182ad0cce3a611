"""gold_risk rows of one (symbol, interval) series (spec §4.1-4.7)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_pipeline.gold import metrics as m
from crypto_pipeline.gold.tables import PERIODS_PER_YEAR, RISK, columns


def risk_rows(symbol: str, interval: str, times: np.ndarray, closes: np.ndarray, windows: tuple[int, ...],
              bench_log: np.ndarray | None, from_ms: int, rf_annual: float = 0.0) -> pd.DataFrame:
    """Rows for bars at or after ``from_ms`` of a gap-free series (``times`` ascending, ``closes`` float64).
    ``bench_log``: BTCUSDT log returns aligned to ``times`` (NaN where BTC has no bar), None if unknown.
    Metrics are NaN until the window holds W returns (bar index >= W)."""
    n_per_year = PERIODS_PER_YEAR[interval]
    rf = m.per_period_rf(rf_annual, n_per_year)
    r, lr = m.simple_returns(closes), m.log_returns(closes)
    start = int(np.searchsorted(times, from_ms))
    bench = np.full(len(times), np.nan) if bench_log is None else bench_log
    frames = []
    for w in windows:
        out = {"volatility_ann": m.rolling(lr, w, lambda b: m.volatility(b, n_per_year), start=start)}
        tails = m.rolling(r, w, m.tail_risk, start=start, width=4)
        out.update(var_95=tails[:, 0], cvar_95=tails[:, 1], var_99=tails[:, 2], cvar_99=tails[:, 3])
        out["max_drawdown"] = m.rolling(r, w, m.max_drawdown, start=start)
        out["sharpe"] = m.rolling(r, w, lambda b: m.sharpe(b, n_per_year, rf), start=start)
        out["sortino"] = m.rolling(r, w, lambda b: m.sortino(b, n_per_year, rf), start=start)
        out["beta_btc"] = m.rolling(lr, w, m.beta, bench, start=start)
        df = pd.DataFrame({"symbol": symbol, "interval": interval, "window_bars": w, "open_time_ms": times,
                           "close": closes, "simple_return": r, "log_return": lr, **out}).iloc[start:]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)[list(columns(RISK))] if frames else pd.DataFrame(columns=columns(RISK))
