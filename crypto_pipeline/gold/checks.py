"""Checks on the gold rows a run computed (pure functions; the assets turn them into Dagster asset checks).

Each returns an Outcome: passed, how many rows broke the rule, and the first offenders for the UI."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crypto_pipeline.gold.signals import SIGNAL_NAMES, STATE
from crypto_pipeline.gold.tables import ZSCORE_THRESHOLD
from crypto_pipeline.silver.intervals import INTERVAL_MS

TOL = 1e-9  # relative slack for identities that hold exactly in real arithmetic


@dataclass
class Outcome:
    passed: bool
    failures: int = 0
    sample: list[str] = field(default_factory=list)
    checked: int = 0


def _outcome(df: pd.DataFrame, bad: pd.Series, label: list[str], what: str) -> Outcome:
    bad = bad.fillna(False).astype(bool)
    rows = df[bad.to_numpy()]
    sample = [f"{what}: " + " ".join(str(r[c]) for c in label) for _, r in rows.head(5).iterrows()]
    return Outcome(passed=not len(rows), failures=len(rows), sample=sample, checked=len(df))


def _merge(*outs: Outcome) -> Outcome:
    return Outcome(all(o.passed for o in outs), sum(o.failures for o in outs), [s for o in outs for s in o.sample][:10],
                   max((o.checked for o in outs), default=0))


def _lt(a: pd.Series, b: pd.Series) -> pd.Series:
    """a < b beyond rounding (NaN compares False)."""
    return a < b - TOL * np.maximum(np.abs(a), np.abs(b))


RISK_LABEL = ["symbol", "interval", "window_bars", "open_time_ms"]


def risk_bounds(df: pd.DataFrame) -> Outcome:
    """MDD in [-1, 0], volatility >= 0, VaR and CVaR <= 1 (a simple return is >= -1), CVaR >= VaR, no +-inf."""
    outs = [_outcome(df, (df.max_drawdown < -1) | (df.max_drawdown > 0), RISK_LABEL, "max_drawdown outside [-1, 0]"),
            _outcome(df, df.volatility_ann < 0, RISK_LABEL, "volatility < 0")]
    for lv in (95, 99):
        v, c = df[f"var_{lv}"], df[f"cvar_{lv}"]
        outs += [_outcome(df, _lt(c, v), RISK_LABEL, f"cvar_{lv} < var_{lv}"),
                 _outcome(df, (v > 1) | (c > 1), RISK_LABEL, f"var/cvar_{lv} above 1")]
    num = df.select_dtypes("number")
    outs.append(_outcome(df, pd.Series(np.isinf(num.to_numpy(dtype=float)).any(axis=1), index=df.index),
                         RISK_LABEL, "infinite value"))
    return _merge(*outs)


def risk_var_nonnegative(df: pd.DataFrame) -> Outcome:
    """VaR >= 0: a window whose 5 % tail holds no loss is possible (a steady rally) but worth a look (WARN)."""
    return _merge(*[_outcome(df, df[f"var_{lv}"] < 0, RISK_LABEL, f"var_{lv} < 0") for lv in (95, 99)])


def risk_complete(df: pd.DataFrame, origins: dict[tuple[str, str], int | None], counts: dict) -> Outcome:
    """No NULL volatility/VaR/CVaR/MDD once the window is full (W returns: from the series' bar W on), and
    as many risk rows per window as silver has final candles (over the recomputed range)."""
    need = ["volatility_ann", "var_95", "cvar_95", "var_99", "cvar_99", "max_drawdown"]
    origin = pd.Series([origins.get(k) for k in zip(df.symbol, df.interval)], index=df.index, dtype=float)
    size = df.interval.map(INTERVAL_MS).astype(float)
    full = origin.isna() | (df.open_time_ms >= origin.fillna(0) + df.window_bars * size)
    out = _outcome(df, full & df[need].isna().any(axis=1), RISK_LABEL, "NULL metric with a full window")
    gold, silver = counts.get("gold", {}), counts.get("silver", {})
    off = [f"{k}: gold {n} rows, silver {silver.get(k[:2], 0)} final candles" for k, n in sorted(gold.items())
           if n != silver.get(k[:2], 0)]
    missing = [f"{k}: silver {n} final candles, no gold rows" for k, n in sorted(silver.items())
               if not any(g[:2] == k for g in gold)]
    off += missing
    return _merge(out, Outcome(not off, len(off), off[:5], len(gold)))


CORR_LABEL = ["interval", "window_bars", "open_time_ms", "symbol_a", "symbol_b"]


def correlation_valid(df: pd.DataFrame) -> Outcome:
    """|rho| <= 1, rho_ab = rho_ba, the diagonal is 1 (NULL only for a constant series)."""
    rho = df.correlation
    outs = [_outcome(df, rho.abs() > 1, CORR_LABEL, "|correlation| > 1"),
            _outcome(df, (df.symbol_a == df.symbol_b) & rho.notna() & (rho != 1.0), CORR_LABEL, "diagonal != 1")]
    if len(df):
        mirror = df.merge(df, left_on=["interval", "window_bars", "open_time_ms", "symbol_a", "symbol_b"],
                          right_on=["interval", "window_bars", "open_time_ms", "symbol_b", "symbol_a"],
                          how="left", suffixes=("", "_t"))
        asym = ~((mirror.correlation == mirror.correlation_t) | (mirror.correlation.isna() & mirror.correlation_t.isna()))
        outs.append(_outcome(mirror, asym, CORR_LABEL, "asymmetric or missing mirror pair"))
    return _merge(*outs)


PORT_LABEL = ["portfolio", "interval", "open_time_ms"]


def portfolio_consistent(port: pd.DataFrame, pos: pd.DataFrame) -> Outcome:
    """value = cash + sum of position values; cash/value + sum of weights = 1; drawdown in [-1, 0];
    CVaR >= VaR (currency)."""
    outs = [_outcome(port, (port.drawdown < -1) | (port.drawdown > TOL), PORT_LABEL, "drawdown outside [-1, 0]")]
    for lv in (95, 99):
        outs.append(_outcome(port, _lt(port[f"cvar_{lv}"], port[f"var_{lv}"]), PORT_LABEL, f"cvar_{lv} < var_{lv}"))
    if len(port):
        sums = pos.groupby(PORT_LABEL)[["value", "weight"]].sum().rename(columns={"value": "pv", "weight": "pw"})
        j = port.merge(sums, left_on=PORT_LABEL, right_index=True, how="left").fillna({"pv": 0.0, "pw": 0.0})
        scale = np.maximum(j.value.abs(), 1.0)
        outs.append(_outcome(j, (j.value - j.cash - j.pv).abs() > TOL * scale, PORT_LABEL, "value != cash + positions"))
        outs.append(_outcome(j, (j.cash / j.value + j.pw - 1).abs() > 1e-9, PORT_LABEL, "weights + cash share != 1"))
    return _merge(*outs)


SIG_LABEL = ["symbol", "interval", "open_time_ms", "signal"]


def signals_valid(df: pd.DataFrame) -> Outcome:
    """Known signal names, direction +1/-1, kind matching the signal, values_json a map of finite numbers."""
    def bad_json(text) -> bool:
        try:
            vals = json.loads(text)
            return not vals or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals.values())
        except (TypeError, ValueError):
            return True

    kind_ok = df.kind == np.where(df.signal.isin(["rsi_zone", "bb_state"]), STATE, "event")
    return _merge(_outcome(df, ~df.signal.isin(SIGNAL_NAMES), SIG_LABEL, "unknown signal"),
                  _outcome(df, ~df.direction.isin([1, -1]), SIG_LABEL, "direction not +-1"),
                  _outcome(df, ~kind_ok, SIG_LABEL, "kind does not match the signal"),
                  _outcome(df, df.values_json.map(bad_json), SIG_LABEL, "values_json not finite numbers"))


ANOM_LABEL = ["symbol", "interval", "open_time_ms", "metric"]


def anomalies_valid(df: pd.DataFrame) -> Outcome:
    """Only flagged rows (|z| >= 3 returns, z >= 3 volume), std > 0, z = (value - mean) / std."""
    z = df.zscore
    flagged = np.where(df.metric == "volume", z >= ZSCORE_THRESHOLD, z.abs() >= ZSCORE_THRESHOLD)
    recomputed = (df.value - df["mean"]) / df["std"]
    return _merge(_outcome(df, pd.Series(~flagged, index=df.index), ANOM_LABEL, "row below the threshold"),
                  _outcome(df, ~(df["std"] > 0), ANOM_LABEL, "std not > 0"),
                  _outcome(df, (recomputed - z).abs() > 1e-9 * z.abs(), ANOM_LABEL, "zscore != (value - mean)/std"))
