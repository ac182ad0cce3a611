"""One incremental gold run: new silver commits in, exactly the changed gold rows out.

How a run restates gold (README "Gold", docs/architecture.md):
1. Each gold table keeps, in its last commit's metadata, the silver completion time it has consumed and a
   fingerprint of its settings (windows, rf, portfolios). A Hudi incremental query on silver_ohlcv (signals:
   silver_indicators) from there gives, per (symbol, interval), the earliest *final* candle that changed:
   a new bar, or a bar a late trade restated. A changed fingerprint (or no table) means: from each series' origin.
2. Per table the bars to recompute: risk from that bar (all symbols of the interval when BTCUSDT changed:
   beta); correlation and the portfolios from the earliest change of the interval; signals and anomalies
   per series. The series are read from a window of history before it (the longest window + 1 bar).
3. Every metric is a function of its window only (crypto_pipeline/gold/metrics.py), so recomputed rows that
   did not change are bit-identical to the stored ones; only rows that differ are upserted, and signal or
   anomaly rows a restatement no longer produces are deleted - in one commit with the new checkpoint. A
   rerun without new silver commits writes nothing; one that recomputes identical rows commits no rows.
"""
from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crypto_pipeline.gold import lake
from crypto_pipeline.gold.anomalies import anomaly_rows
from crypto_pipeline.gold.correlation import correlation_rows
from crypto_pipeline.gold.metrics import log_returns
from crypto_pipeline.gold.portfolio import Prior, portfolio_rows
from crypto_pipeline.gold.risk import risk_rows
from crypto_pipeline.gold.signals import signal_rows
from crypto_pipeline.gold.tables import (ANOMALIES, ANOMALY_WINDOW, BENCHMARK, CORRELATION, DEFAULT_WINDOWS, PORTFOLIO,
                                         POSITIONS, RISK, SIGNALS, columns, gold_path)
from crypto_pipeline.silver import hudi
from crypto_pipeline.silver.intervals import INTERVAL_MS, open_time
from shared.portfolios import Portfolio

TABLES = (RISK, CORRELATION, PORTFOLIO, SIGNALS, ANOMALIES)
IND_COLS = ["close", "sma_50", "sma_200", "macd", "macd_signal", "macd_hist", "rsi_14", "bb_upper", "bb_lower"]
ORIGIN = lake.ORIGIN


@dataclass(frozen=True)
class GoldSettings:
    windows: dict[str, tuple[int, ...]] = field(default_factory=lambda: dict(DEFAULT_WINDOWS))
    anomaly_window: int = ANOMALY_WINDOW
    risk_free_annual: float = 0.0


@dataclass
class TableRun:
    """What one run did to one table; becomes the asset's metadata and feeds its checks."""

    skipped: bool = True
    full: bool = False
    begin: str | None = None
    end: str | None = None
    targets: int = 0
    rows_computed: int = 0
    rows_written: int = 0
    rows_deleted: int = 0
    latest_bar_ms: dict[str, int] = field(default_factory=dict)
    computed: pd.DataFrame | None = None
    positions: pd.DataFrame | None = None
    counts: dict = field(default_factory=dict)  # risk: {"gold": {...}, "silver": {...}}
    seconds: float = 0.0  # from the start of the run to this table's commit
    origins: dict = field(default_factory=dict)  # risk: series -> first bar when it was read from its origin


def _fingerprint(table: str, s: GoldSettings, portfolios: list[Portfolio]) -> str:
    parts: dict = {"v": 1}
    if table in (RISK, CORRELATION, PORTFOLIO):
        parts["windows"] = {k: list(v) for k, v in sorted(s.windows.items())}
    if table == RISK:
        parts["rf"] = s.risk_free_annual
    if table == ANOMALIES:
        parts["anomaly_window"] = s.anomaly_window
    if table == PORTFOLIO:
        parts["portfolios"] = [p.model_dump(mode="json") for p in portfolios]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _by_interval(froms: dict[tuple, int], iv_pos: int = 1) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, f in froms.items():
        out[key[iv_pos]] = min(out.get(key[iv_pos], f), f)
    return out


def _series(df: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    return {k: g for k, g in df.groupby(["symbol", "interval"], sort=False)} if len(df) else {}


def update_gold(spark: SparkSession, silver_ohlcv: str, silver_indicators: str, gold_base: str,
                settings: GoldSettings = GoldSettings(), portfolios: list[Portfolio] = (), tables=TABLES,
                now_ms: int | None = None, parallelism: int = 2, write_threads: int = 3) -> dict[str, TableRun]:
    """Bring the selected gold tables up to date with silver (idempotent; see module doc)."""
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    t0 = time.monotonic()
    stamp = now_ms if now_ms is not None else int(time.time() * 1000)
    ends = {"silver_ohlcv": hudi.latest_completion_time(spark, silver_ohlcv),
            "silver_indicators": hudi.latest_completion_time(spark, silver_indicators)}
    upstream_path = {"silver_ohlcv": silver_ohlcv, "silver_indicators": silver_indicators}
    runs: dict[str, TableRun] = {}
    changes_memo: dict[tuple, dict] = {}
    plans: dict[str, tuple[dict, dict]] = {}
    for t in tables:
        key = "silver_indicators" if t == SIGNALS else "silver_ohlcv"
        run = runs[t] = TableRun(end=ends[key])
        fp = _fingerprint(t, settings, portfolios)
        ckpt = hudi.read_checkpoint(spark, gold_path(gold_base, t), prefix=lake.META_PREFIX) or {}
        run.full = ckpt.get("config") != fp
        run.begin = None if run.full else ckpt.get(key)
        if run.end is None or run.begin == run.end:
            continue
        memo = (key, run.begin)
        if memo not in changes_memo:
            changes_memo[memo] = lake.changed_from(spark, upstream_path[key], run.begin, run.end,
                                                   final_only=key == "silver_ohlcv")
        run.skipped = False
        plans[t] = ({key: run.end, "config": fp}, changes_memo[memo])
    if not plans:
        return runs

    w = settings.windows
    lookback = {iv: max(*w.get(iv, (1,)), settings.anomaly_window) + 2 for iv in INTERVAL_MS}
    starts: dict[str, int] = {}
    targets: dict[str, dict] = {}
    for t, (_, changed) in plans.items():
        if t == RISK:
            tg = dict(changed)
            for (s, iv), f in changed.items():
                if s == BENCHMARK:
                    tg[("*", iv)] = f  # every symbol of the interval, resolved once the series are read
        elif t == CORRELATION:
            tg = {(iv,): f for iv, f in _by_interval(changed).items()}
        elif t == PORTFOLIO:
            tg = {}
            for p in portfolios:
                for iv in p.intervals:
                    fs = [f for (s, i), f in changed.items() if i == iv and s in p.symbols()]
                    if fs:
                        tg[(p.name, iv)] = min(fs)
        else:
            tg = dict(changed)
        targets[t] = tg
        if t == SIGNALS:
            continue
        for iv, f in _by_interval(tg, -1).items():
            starts[iv] = min(starts.get(iv, f), f - lookback[iv] * INTERVAL_MS[iv] if f > ORIGIN else ORIGIN)

    if PORTFOLIO in plans and runs[PORTFOLIO].full:  # new or changed portfolios: stored rows are no prior
        targets[PORTFOLIO] = {k: ORIGIN for k in targets[PORTFOLIO]}
    priors = _portfolio_priors(spark, gold_path(gold_base, PORTFOLIO), targets.get(PORTFOLIO, {}))
    for (name, iv), f in list(targets.get(PORTFOLIO, {}).items()):
        if (name, iv) not in priors and f > ORIGIN:  # nothing stored before the change: from the origin
            targets[PORTFOLIO][(name, iv)] = ORIGIN
    for (name, iv), f in targets.get(PORTFOLIO, {}).items():
        if f == ORIGIN:
            starts[iv] = ORIGIN
    ohlcv = _series(lake.read_series(spark, silver_ohlcv, starts, ["close", "volume"])) if starts else {}

    compute = {RISK: lambda tg: _risk(ohlcv, tg, settings, starts), CORRELATION: lambda tg: _correlation(ohlcv, tg, w),
               ANOMALIES: lambda tg: _anomalies(ohlcv, tg, settings.anomaly_window),
               PORTFOLIO: lambda tg: _portfolios(ohlcv, tg, portfolios, priors, w),
               SIGNALS: lambda tg: _signals(spark, silver_indicators, tg)}
    def finish(t: str) -> None:
        ckpt, run, tg = plans[t][0], runs[t], targets[t]
        rows, extra, scope = compute[t](tg)
        run.targets, run.computed, run.rows_computed = len(tg), rows, len(rows)
        if len(rows):
            run.latest_bar_ms = {iv: int(g.open_time_ms.max()) for iv, g in rows.groupby("interval")}
        restated = [[*k, v] for k, v in sorted(scope.items())]
        from_iv = {iv: f for iv, f in _by_interval(scope, -1).items()}
        if t == RISK:
            run.origins = extra
        if t == PORTFOLIO:  # positions first: the portfolio commit carries the checkpoint that counts
            run.positions = extra
            _write(spark, gold_path(gold_base, POSITIONS), POSITIONS, extra, from_iv, scope, ckpt, restated, stamp,
                   parallelism)
        run.rows_written, run.rows_deleted = _write(spark, gold_path(gold_base, t), t, rows, from_iv, scope, ckpt,
                                                    restated, stamp, parallelism)
        if t == RISK:  # rows per window vs final silver candles, over each recomputed range (in memory)
            run.counts = {"gold": {k: int(n) for k, n in rows.groupby(["symbol", "interval", "window_bars"]).size().items()},
                          "silver": {k: int((ohlcv[k].open_time_ms >= f).sum()) for k, f in scope.items() if k in ohlcv}}
        run.seconds = round(time.monotonic() - t0, 2)

    # Tables are independent (one writer each): a commit is mostly round trips to S3 and small Spark jobs, so
    # a few tables in flight at once keep the 2 cores busy instead of waiting (README "Gold", benchmarks).
    with ThreadPoolExecutor(max_workers=max(1, write_threads)) as pool:
        for f in [pool.submit(finish, t) for t in plans]:
            f.result()
    return runs


def _write(spark, path, table, rows, from_iv, scope, ckpt, restated, stamp, parallelism) -> tuple[int, int]:
    existing = lake.read_existing(spark, path, table, from_iv)
    key_cols = ["portfolio", "interval"] if table in (PORTFOLIO, POSITIONS) else ["symbol", "interval"]
    scope_df = pd.DataFrame([(*k, f) for k, f in scope.items()], columns=[*key_cols, "from_ms"]) \
        if scope and len(next(iter(scope))) == 2 else pd.DataFrame(columns=[*key_cols, "from_ms"])
    upserts, deletes = lake.diff(table, rows, existing, scope_df)
    lake.write(spark, path, table, upserts, deletes, ckpt, restated, stamp, parallelism)
    return len(upserts), len(deletes)


def _risk(ohlcv: dict, tg: dict, s: GoldSettings, starts: dict[str, int]):
    froms = {k: f for k, f in tg.items() if k[0] != "*" and k[1] in s.windows}  # no window configured: no rows
    for (star, iv), f in tg.items():
        if star == "*" and iv in s.windows:
            for (sym, i) in ohlcv:
                if i == iv:
                    froms[(sym, i)] = min(froms.get((sym, i), f), f)
    frames, origins = [], {}
    for (sym, iv), f in sorted(froms.items()):
        if (sym, iv) not in ohlcv:
            continue
        g = ohlcv[(sym, iv)]
        times = lake.as_int(g.open_time_ms)
        # the read began at the series' first bar (windows fill from there) or inside it (every window full)
        origins[(sym, iv)] = int(times[0]) if starts[iv] == ORIGIN or times[0] > starts[iv] else None
        bench = None
        if (BENCHMARK, iv) in ohlcv:
            b = ohlcv[(BENCHMARK, iv)]
            bench = pd.Series(log_returns(b.close.to_numpy()), index=lake.as_int(b.open_time_ms)).reindex(times).to_numpy()
        frames.append(risk_rows(sym, iv, times, g.close.to_numpy(), s.windows[iv], bench, f, s.risk_free_annual))
    return _concat(frames, RISK), origins, froms


def _correlation(ohlcv: dict, tg: dict, windows: dict):
    frames = []
    for (iv,), f in sorted(tg.items()):
        cols = {sym: pd.Series(log_returns(g.close.to_numpy()), index=lake.as_int(g.open_time_ms))
                for (sym, i), g in ohlcv.items() if i == iv}
        if not cols or iv not in windows:
            continue
        lr = pd.DataFrame(cols)
        size = INTERVAL_MS[iv]
        lr = lr.reindex(np.arange(lr.index.min(), lr.index.max() + size, size))  # consecutive bars
        frames.append(correlation_rows(iv, lr, windows[iv], f))
    return _concat(frames, CORRELATION), None, dict(tg)


def _anomalies(ohlcv: dict, tg: dict, window: int):
    frames = [anomaly_rows(sym, iv, lake.as_int(g.open_time_ms), g.close.to_numpy(), g.volume.to_numpy(), window, f)
              for (sym, iv), f in sorted(tg.items()) if (g := ohlcv.get((sym, iv))) is not None]
    return _concat(frames, ANOMALIES), None, dict(tg)


def _signals(spark, silver_indicators: str, tg: dict):
    starts = {iv: (f - INTERVAL_MS[iv] if f > ORIGIN else ORIGIN) for iv, f in _by_interval(tg).items()}
    ind = _series(lake.read_series(spark, silver_indicators, starts, IND_COLS, final_only=False))
    frames = [signal_rows(sym, iv, g, f) for (sym, iv), f in sorted(tg.items()) if (g := ind.get((sym, iv))) is not None]
    return _concat(frames, SIGNALS), None, dict(tg)


def _portfolios(ohlcv: dict, tg: dict, portfolios, priors: dict, windows: dict):
    ports, positions, scope = [], [], {}
    by_name = {p.name: p for p in portfolios}
    for (name, iv), f in sorted(tg.items()):
        p, size = by_name[name], INTERVAL_MS[iv]
        series = {s: ohlcv[(s, iv)] for s in p.symbols() if (s, iv) in ohlcv}
        if not series:
            continue  # none of its symbols has a candle yet
        prior = priors.get((name, iv)) if f > ORIGIN else None
        first = max(open_time(p.start_ms, iv), min(int(g.open_time_ms.min()) for g in series.values()))
        begin = max(prior.first_bar_ms, first) if prior else first
        end = min(int(g.open_time_ms.max()) for g in series.values())  # every symbol final up to here
        if end < begin:
            continue
        times = np.arange(begin, end + size, size, dtype=np.int64)
        closes = {s: pd.Series(g.close.to_numpy(), index=lake.as_int(g.open_time_ms)).reindex(times).to_numpy()
                  for s, g in series.items()}
        from_ms = max(f, begin)
        port, pos = portfolio_rows(p, iv, times, closes, windows.get(iv, (30,))[0], from_ms, prior)
        ports.append(port)
        positions.append(pos)
        scope[(name, iv)] = from_ms
    return _concat(ports, PORTFOLIO), _concat(positions, POSITIONS), scope


def _portfolio_priors(spark, path: str, tg: dict) -> dict[tuple[str, str], Prior]:
    """First bar, its value and the highest value before each target's first recomputed bar, from the stored rows."""
    want = [(n, iv, f) for (n, iv), f in tg.items() if f > ORIGIN]
    if not want or not hudi.table_exists(spark, path):
        return {}
    froms = spark.createDataFrame(want, "portfolio string, interval string, from_ms bigint")
    rows = (hudi.read_snapshot(spark, path).select("portfolio", "interval", "open_time_ms", "value")
            .join(F.broadcast(froms), ["portfolio", "interval"])
            .filter(F.col("open_time_ms") < F.col("from_ms"))
            .groupBy("portfolio", "interval")
            .agg(F.min("open_time_ms").alias("first"), F.min_by("value", "open_time_ms").alias("v0"),
                 F.max("value").alias("peak")).collect())
    return {(r.portfolio, r.interval): Prior(r.first, r.v0, r.peak) for r in rows}


def _concat(frames: list, table: str) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns(table)))
