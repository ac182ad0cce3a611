"""Spec §4 metrics on float64 numpy arrays: returns, and rolling-window statistics.

Why every window is reduced on its own (no running sums): an incremental run recomputes a series' tail
from some bar on, and must reproduce bit for bit what a full build wrote for the bars it did not change
- otherwise every rerun would rewrite rows differing in the last bit. Running sums (pandas rolling)
depend on where the computation started; a reduction over one window's values, laid out the same way
(a C-contiguous row of W values, numpy's pairwise summation), depends only on those values.

Rolling functions take the per-bar series (index 0 = first bar, NaN where undefined) and return an
array of the same length: the value at bar t uses the W values ending at t, NaN where any is NaN.
Windows are processed in blocks of rows so a (rows x W) copy stays small."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: tail probability per confidence level: explicit, because 1 - 0.95 is 0.050000000000000044 in binary
TAIL = {95: 0.05, 99: 0.01}
_BLOCK_CELLS = 1 << 21  # ~16 MB of float64 per block


def simple_returns(p: np.ndarray) -> np.ndarray:
    """r_t = P_t/P_{t-1} - 1; index 0 is NaN (§4.1)."""
    out = np.full(len(p), np.nan)
    out[1:] = p[1:] / p[:-1] - 1.0
    return out


def log_returns(p: np.ndarray) -> np.ndarray:
    """l_t = ln(P_t/P_{t-1}); index 0 is NaN (§4.1)."""
    out = np.full(len(p), np.nan)
    out[1:] = np.log(p[1:] / p[:-1])
    return out


def rolling(x: np.ndarray, w: int, fn: Callable[[np.ndarray], np.ndarray], *others: np.ndarray,
            start: int = 0, width: int = 0) -> np.ndarray:
    """``fn`` over every full window of ``x`` (and aligned windows of ``others``) ending at t >= start;
    ``fn`` gets C-contiguous (rows, w) blocks and returns one value per row (``width`` > 0: a (rows, width)
    array, and so is the result). Windows with a NaN -> NaN."""
    n = len(x)
    out = np.full((n, width) if width else n, np.nan)
    first = max(w - 1, start)
    if n < w or first >= n:
        return out
    views = [sliding_window_view(a, w) for a in (x, *others)]
    step = max(1, _BLOCK_CELLS // w)
    for lo in range(first - w + 1, n - w + 1, step):
        hi = min(lo + step, n - w + 1)
        blocks = [np.ascontiguousarray(v[lo:hi]) for v in views]
        ok = ~np.any(np.isnan(np.hstack(blocks)) if len(blocks) > 1 else np.isnan(blocks[0]), axis=1)
        vals = np.full((hi - lo, width) if width else hi - lo, np.nan)
        if ok.any():
            vals[ok] = fn(*[np.ascontiguousarray(b[ok]) for b in blocks])
        out[lo + w - 1:hi + w - 1] = vals
    return out


def _std(b: np.ndarray) -> np.ndarray:
    return np.std(b, axis=1, ddof=1)


def volatility(b: np.ndarray, periods: int) -> np.ndarray:
    """§4.3 sigma_ann = std(l, ddof=1) * sqrt(N)."""
    return _std(b) * math.sqrt(periods)


def var_cvar(b: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
    """§4.4 historical VaR and CVaR as positive loss fractions: q = linear-interpolated quantile at the
    tail probability; CVaR = -mean of the k = floor((n-1)p) + 1 smallest."""
    return _var_cvar_sorted(np.sort(b, axis=1), level)


def _var_cvar_sorted(s: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
    n = s.shape[1]
    h = (n - 1) * TAIL[level]
    lo = int(math.floor(h))
    frac = h - lo
    q = s[:, lo] if lo + 1 >= n or frac == 0.0 else s[:, lo] + frac * (s[:, lo + 1] - s[:, lo])
    return -q, -np.mean(s[:, :lo + 1], axis=1)


def tail_risk(b: np.ndarray) -> np.ndarray:
    """(rows, 4): VaR95, CVaR95, VaR99, CVaR99 of each window row, sorting each row once."""
    s = np.sort(b, axis=1)
    return np.column_stack([*_var_cvar_sorted(s, 95), *_var_cvar_sorted(s, 99)])


def max_drawdown(b: np.ndarray) -> np.ndarray:
    """§4.5 min over the window of V/M - 1 with V = cumprod(1 + r) starting at 1 (the start is a peak)."""
    v = np.cumprod(1.0 + b, axis=1)
    peak = np.maximum(np.maximum.accumulate(v, axis=1), 1.0)
    return np.minimum(np.min(v / peak - 1.0, axis=1), 0.0)


def sharpe(b: np.ndarray, periods: int, rf: float = 0.0) -> np.ndarray:
    """§4.6 mean(e)/std(e, ddof=1) * sqrt(N); NaN where std = 0."""
    e = b - rf
    sd = _std(e)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, np.mean(e, axis=1) / sd * math.sqrt(periods), np.nan)


def sortino(b: np.ndarray, periods: int, rf: float = 0.0) -> np.ndarray:
    """§4.6 mean(e)/DD * sqrt(N), DD = sqrt(mean(min(e, 0)^2)) over all n; NaN where DD = 0."""
    e = b - rf
    dd = np.sqrt(np.mean(np.square(np.minimum(e, 0.0)), axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dd > 0, np.mean(e, axis=1) / dd * math.sqrt(periods), np.nan)


def beta(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """§4.7 Cov(a, m)/Var(m) over the same timestamps (the ddof cancels); NaN where Var(m) = 0."""
    dm = m - np.mean(m, axis=1, keepdims=True)
    da = a - np.mean(a, axis=1, keepdims=True)
    var = np.sum(dm * dm, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, np.sum(da * dm, axis=1) / var, np.nan)


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """§4.8 Pearson correlation per window row; NaN where either side is constant."""
    da = a - np.mean(a, axis=1, keepdims=True)
    db = b - np.mean(b, axis=1, keepdims=True)
    saa, sbb = np.sum(da * da, axis=1), np.sum(db * db, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where((saa > 0) & (sbb > 0), np.sum(da * db, axis=1) / np.sqrt(saa * sbb), np.nan)
    return np.clip(rho, -1.0, 1.0)  # |rho| may exceed 1 by an ulp from rounding


def zscore(x: np.ndarray, w: int, start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """§4.11 (z, mean, std) of x_t against the previous w values x_{t-w..t-1} (ddof=1); NaN if s = 0 or the
    window is incomplete."""
    prev = np.full(len(x), np.nan)
    prev[1:] = x[:-1]
    mu = rolling(prev, w, lambda b: np.mean(b, axis=1), start=start)
    sd = rolling(prev, w, _std, start=start)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (x - mu) / sd, np.nan)
    return z, mu, sd


def per_period_rf(annual: float, periods: int) -> float:
    """§4.6 rf = (1 + R_f)^(1/N) - 1."""
    return (1.0 + annual) ** (1.0 / periods) - 1.0 if annual else 0.0
