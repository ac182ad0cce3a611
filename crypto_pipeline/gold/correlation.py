"""gold_correlation rows of one interval (spec §4.8).

Complete case: the matrix at bar t is over the assets that have all W log returns of the window ending at t,
on the same timestamps - so it is positive semidefinite. Silver has no gaps after a symbol's first candle,
so this is pandas' pairwise-complete ``rolling(W, min_periods=W).corr()`` restricted to full windows: an
asset that starts later joins the matrix once its window is full, and never changes earlier matrices."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_pipeline.gold import metrics as m
from crypto_pipeline.gold.tables import CORRELATION, columns


def correlation_rows(interval: str, log_returns: pd.DataFrame, windows: tuple[int, ...], from_ms: int) -> pd.DataFrame:
    """``log_returns``: index open_time_ms (ascending, every bar of the interval), one column per symbol
    (NaN where the symbol has no return). All ordered pairs incl. the diagonal, for bars >= ``from_ms``
    where both assets have a full window; a constant series gives NULL (NaN here)."""
    times = log_returns.index.to_numpy(dtype=np.int64)
    start = int(np.searchsorted(times, from_ms))
    syms = sorted(log_returns.columns)
    frames = []
    for w in windows:
        for i, a in enumerate(syms):
            xa = log_returns[a].to_numpy(dtype=float)
            for b in syms[i:]:
                xb = log_returns[b].to_numpy(dtype=float)
                rho = m.rolling(xa, w, m.correlation, xb, start=start)
                if a == b:  # the diagonal is 1 by definition where the series is not constant
                    rho = np.where(np.isnan(rho), np.nan, 1.0)
                full = m.rolling(xa, w, lambda x, _y: np.zeros(len(x)), xb, start=start)  # 0 where both windows full
                keep = ~np.isnan(full[start:])
                for sa, sb in {(a, b), (b, a)}:
                    frames.append(pd.DataFrame({"interval": interval, "window_bars": w,
                                                "open_time_ms": times[start:][keep], "symbol_a": sa,
                                                "symbol_b": sb, "correlation": rho[start:][keep]}))
    if not frames:
        return pd.DataFrame(columns=columns(CORRELATION))
    return pd.concat(frames, ignore_index=True)[list(columns(CORRELATION))]
