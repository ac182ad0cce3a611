"""gold_anomalies rows of one series (spec §4.11): z-scores of log returns (|z| >= 3) and volume (z >= 3)
against the previous W values; only flagged rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_pipeline.gold import metrics as m
from crypto_pipeline.gold.tables import ANOMALIES, ZSCORE_THRESHOLD, columns


def anomaly_rows(symbol: str, interval: str, times: np.ndarray, closes: np.ndarray, volumes: np.ndarray,
                 window: int, from_ms: int) -> pd.DataFrame:
    start = int(np.searchsorted(times, from_ms))
    frames = []
    for metric, x, two_sided in (("log_return", m.log_returns(closes), True), ("volume", volumes, False)):
        z, mu, sd = m.zscore(x, window, start=start)
        with np.errstate(invalid="ignore"):
            flag = (np.abs(z) if two_sided else z) >= ZSCORE_THRESHOLD
        flag[:start] = False
        idx = np.nonzero(flag)[0]
        frames.append(pd.DataFrame({"symbol": symbol, "interval": interval, "open_time_ms": times[idx],
                                    "metric": metric, "value": x[idx], "mean": mu[idx], "std": sd[idx],
                                    "zscore": z[idx], "window_bars": window}))
    return pd.concat(frames, ignore_index=True)[list(columns(ANOMALIES))]
