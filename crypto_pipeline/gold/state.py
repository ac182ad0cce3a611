"""What a gold table's checkpoint carries besides the silver commit it consumed (crypto_pipeline/gold/job.py):

* ``covered``: per series (``symbol|interval``, ``portfolio|interval``, or the interval for correlation) the
  last bar the table has computed. Rows exist only up to it, so a run whose recomputed bars all come after it
  has nothing stored to compare with or delete: it reads no stored rows and writes an insert.
* ``priors`` (portfolio table): per ``portfolio|interval`` [first bar, its value, peak value, last bar] - the
  running state the next bar's cumulative PnL and drawdown need, so a new bar does not scan the history.

Both are committed atomically with the rows they describe (Hudi commit metadata); a table whose checkpoint
lacks them (or a full rebuild) falls back to reading the stored rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from crypto_pipeline.gold import lake
from crypto_pipeline.lakehouse.files import LakeFiles
from crypto_pipeline.gold.portfolio import Prior

ORIGIN = lake.ORIGIN


def skey(key: tuple) -> str:
    return "|".join(map(str, key))


def covered_of(ckpt: dict, full: bool) -> dict[str, int] | None:
    """The table's last computed bar per series from its checkpoint; None when unknown (full rebuild, a
    checkpoint written before it was kept)."""
    return None if full or "covered" not in ckpt else dict(ckpt["covered"])


def with_covered(ckpt: dict, known: dict | None, covered: dict[tuple, int]) -> dict:
    """The checkpoint to commit: the table's covered state advanced by this run's series."""
    out = dict(known or {})
    for k, last in covered.items():
        out[skey(k)] = max(out.get(skey(k), last), last)
    return {**ckpt, "covered": out}


def portfolio_priors(files: LakeFiles, path: str, tg: dict, running: dict) -> dict[tuple[str, str], Prior]:
    """First bar, its value and the highest value before each target's first recomputed bar: from the
    portfolio checkpoint's running state when the target starts after every stored bar, else from the
    stored rows (a restatement)."""
    out, scan = {}, []
    for (name, iv), f in tg.items():
        if f <= ORIGIN:
            continue
        st = running.get(skey((name, iv)))
        if st is not None and st[3] < f:
            out[(name, iv)] = Prior(int(st[0]), float(st[1]), float(st[2]))
        else:
            scan.append((name, iv, f))
    if scan:
        last = {(n, iv): lake.period_from(iv, f) for n, iv, f in scan}  # periods up to each target's start

        def keep(p: dict[str, str]) -> bool:
            if "interval" not in p:
                return any(n == p["portfolio"] for n, _ in last)
            return (p["portfolio"], p["interval"]) in last and p.get("period", "") <= last[(p["portfolio"], p["interval"])]
        rows = files.snapshot(path, ("portfolio", "interval", "period"), keep,
                              ["portfolio", "interval", "open_time_ms", "value"])
        for n, iv, f in scan:
            g = rows[(rows.portfolio == n) & (rows.interval == iv) & (rows.open_time_ms < f)]
            if len(g):
                first = g.loc[g.open_time_ms.idxmin()]
                out[(n, iv)] = Prior(int(first.open_time_ms), float(first.value), float(g.value.max()))
    return out


def next_priors(running: dict, rows: pd.DataFrame, scope: dict, priors: dict) -> dict:
    """The portfolio running state after this run: per (portfolio, interval) recomputed, [first bar, its value,
    peak value, last bar] - what the next run's prior is when it starts after that last bar."""
    out = dict(running)
    for (name, iv), f in scope.items():
        g = rows[(rows.portfolio == name) & (rows.interval == iv)]
        if not len(g):
            continue
        prior = priors.get((name, iv))  # only targets after the origin have one
        first = (prior.first_bar_ms, prior.first_value) if prior else (int(g.open_time_ms.iloc[0]), float(g.value.iloc[0]))
        peak = max(prior.peak_before if prior else -np.inf, float(g.value.max()))
        out[skey((name, iv))] = [int(first[0]), float(first[1]), peak, int(g.open_time_ms.max())]
    return out
