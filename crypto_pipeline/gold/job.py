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
4. The checkpoint also carries what the table has computed so far (``covered``: the last bar of each series)
   and, for the portfolios, the running state a new bar needs (first bar, its value, the peak value). A run
   whose bars all lie after ``covered`` (a new minute: the usual case) has nothing stored to compare with or
   delete, so it neither reads the table nor looks keys up (an insert), and takes the portfolio's prior from
   the checkpoint instead of scanning the stored rows; a restatement reads the stored rows from its first bar
   (crypto_pipeline/gold/state.py).
Reads are driver-side (crypto_pipeline/lakehouse/files.py); ``Phases`` records the seconds of each step.
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

from crypto_pipeline.gold import lake, state
from crypto_pipeline.gold.anomalies import anomaly_rows
from crypto_pipeline.gold.correlation import correlation_rows
from crypto_pipeline.lakehouse.files import LakeFiles
from crypto_pipeline.gold.metrics import log_returns
from crypto_pipeline.gold.phases import Phases
from crypto_pipeline.gold.portfolio import portfolio_rows
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
    inserted: bool = False  # every bar after what the table held: no stored rows read, no key lookup


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
                now_ms: int | None = None, parallelism: int = 2, write_threads: int = 6,
                phases: Phases | None = None) -> dict[str, TableRun]:
    """Bring the selected gold tables up to date with silver (idempotent; see module doc). ``phases`` (optional)
    collects the seconds of each step."""
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")  # pandas -> Spark for the writes
    timer = phases if phases is not None else Phases(spark)
    files = LakeFiles(spark)
    t0 = time.monotonic()
    stamp = now_ms if now_ms is not None else int(time.time() * 1000)
    upstream_path = {"silver_ohlcv": silver_ohlcv, "silver_indicators": silver_indicators}
    runs: dict[str, TableRun] = {}
    changes_memo: dict[tuple, dict] = {}
    plans: dict[str, tuple[dict, dict]] = {}
    known: dict[str, dict | None] = {}  # table -> its covered state (None: unknown)
    running: dict = {}  # portfolio running state from the portfolio table's checkpoint
    with timer("timeline: silver ends, gold checkpoints"), ThreadPoolExecutor(max_workers=4) as pool:
        # a few S3 round trips each (meta client, timeline, newest commit): in parallel
        own = (*tables, *([POSITIONS] if PORTFOLIO in tables else []))
        end_f = {k: pool.submit(hudi.latest_completion_time, spark, p) for k, p in upstream_path.items()}
        ckpt_f = {t: pool.submit(hudi.read_checkpoint, spark, gold_path(gold_base, t), prefix=lake.META_PREFIX)
                  for t in own}
        ends = {k: f.result() for k, f in end_f.items()}
        ckpts = {t: f.result() or {} for t, f in ckpt_f.items()}
    for t in tables:
        key = "silver_indicators" if t == SIGNALS else "silver_ohlcv"
        run = runs[t] = TableRun(end=ends[key])
        fp = _fingerprint(t, settings, portfolios)
        ckpt = ckpts[t]
        run.full = ckpt.get("config") != fp
        run.begin = None if run.full else ckpt.get(key)
        if run.end is None or run.begin == run.end:
            continue
        known[t] = state.covered_of(ckpt, run.full)
        if t == PORTFOLIO:
            known[POSITIONS] = state.covered_of(ckpts[POSITIONS], run.full or ckpts[POSITIONS].get("config") != fp)
            running = {} if run.full else dict(ckpt.get("priors", {}))
        memo = (key, run.begin)
        if memo not in changes_memo:
            with timer(f"silver increment: {key}"):
                changes_memo[memo] = lake.changed_from(spark, files, upstream_path[key], run.begin, run.end,
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
    with timer("portfolio priors"):
        priors = state.portfolio_priors(files, gold_path(gold_base, PORTFOLIO), targets.get(PORTFOLIO, {}), running)
    for (name, iv), f in list(targets.get(PORTFOLIO, {}).items()):
        if (name, iv) not in priors and f > ORIGIN:  # nothing stored before the change: from the origin
            targets[PORTFOLIO][(name, iv)] = ORIGIN
    for (name, iv), f in targets.get(PORTFOLIO, {}).items():
        if f == ORIGIN:
            starts[iv] = ORIGIN
    with timer("silver tails: silver_ohlcv"):
        ohlcv = _series(lake.read_series(files, silver_ohlcv, starts, ["close", "volume"])) if starts else {}

    compute = {RISK: lambda tg: _risk(ohlcv, tg, settings, starts), CORRELATION: lambda tg: _correlation(ohlcv, tg, w),
               ANOMALIES: lambda tg: _anomalies(ohlcv, tg, settings.anomaly_window),
               PORTFOLIO: lambda tg: _portfolios(ohlcv, tg, portfolios, priors, w),
               SIGNALS: lambda tg: _signals(files, timer, silver_indicators, tg)}

    def finish(t: str) -> None:
        ckpt, run, tg = dict(plans[t][0]), runs[t], targets[t]
        with timer(f"compute: {t}"):
            rows, extra, scope, covered = compute[t](tg)
        run.targets, run.computed, run.rows_computed = len(tg), rows, len(rows)
        if len(rows):
            run.latest_bar_ms = {iv: int(g.open_time_ms.max()) for iv, g in rows.groupby("interval")}
        restated = [[*k, v] for k, v in sorted(scope.items())]
        from_iv = {iv: f for iv, f in _by_interval(scope, -1).items()}
        if t == RISK:
            run.origins = extra
        write = lambda table, df: _write(spark, files, timer, gold_base, table, df, from_iv, scope,  # noqa: E731
                                         state.with_covered(ckpt, known.get(table), covered), restated, stamp,
                                         parallelism, known.get(table))
        if t == PORTFOLIO:  # positions first: the portfolio commit carries the checkpoint that counts
            run.positions = extra
            ckpt["priors"] = state.next_priors(running, rows, scope, priors)
            write(POSITIONS, extra)
        run.rows_written, run.rows_deleted, run.inserted = write(t, rows)
        if t == RISK:  # rows per window vs final silver candles, over each recomputed range (in memory)
            run.counts = {"gold": {k: int(n) for k, n in rows.groupby(["symbol", "interval", "window_bars"]).size().items()},
                          "silver": {k: int((ohlcv[k].open_time_ms >= f).sum()) for k, f in scope.items() if k in ohlcv}}
        run.seconds = round(time.monotonic() - t0, 2)

    # Tables are independent (one writer each): a commit is mostly round trips to S3 and small Spark jobs, so
    # the tables' commits in flight at once keep the 2 cores busy instead of waiting (docs/benchmarks-gold.md).
    with ThreadPoolExecutor(max_workers=max(1, write_threads)) as pool:
        for f in [pool.submit(finish, t) for t in plans]:
            f.result()
    return runs


def _write(spark, files, timer, gold_base, table, rows, from_iv, scope, ckpt, restated, stamp, parallelism,
           known: dict | None) -> tuple[int, int, bool]:
    path = gold_path(gold_base, table)
    # every recomputed series starts after the last bar the table holds for it: nothing stored to diff/delete
    all_new = known is not None and bool(scope) and all(known.get(state.skey(k), f) < f for k, f in scope.items())
    with timer(f"stored rows: {table}"):
        existing = lake.read_existing(files, path, table, {} if all_new else from_iv)
    key_cols = ["portfolio", "interval"] if table in (PORTFOLIO, POSITIONS) else ["symbol", "interval"]
    scope_df = pd.DataFrame([(*k, f) for k, f in scope.items()], columns=[*key_cols, "from_ms"]) \
        if scope and len(next(iter(scope))) == 2 else pd.DataFrame(columns=[*key_cols, "from_ms"])
    upserts, deletes = lake.diff(table, rows, existing, scope_df)
    with timer(f"commit: {table}"):
        lake.write(spark, path, table, upserts, deletes, ckpt, restated, stamp, parallelism, all_new=all_new)
    return len(upserts), len(deletes), all_new


def _risk(ohlcv: dict, tg: dict, s: GoldSettings, starts: dict[str, int]):
    froms = {k: f for k, f in tg.items() if k[0] != "*" and k[1] in s.windows}  # no window configured: no rows
    for (star, iv), f in tg.items():
        if star == "*" and iv in s.windows:
            for (sym, i) in ohlcv:
                if i == iv:
                    froms[(sym, i)] = min(froms.get((sym, i), f), f)
    frames, origins, covered = [], {}, {}
    for (sym, iv), f in sorted(froms.items()):
        if (sym, iv) not in ohlcv:
            continue
        g = ohlcv[(sym, iv)]
        times = lake.as_int(g.open_time_ms)
        covered[(sym, iv)] = int(times[-1])
        # the read began at the series' first bar (windows fill from there) or inside it (every window full)
        origins[(sym, iv)] = int(times[0]) if starts[iv] == ORIGIN or times[0] > starts[iv] else None
        bench = None
        if (BENCHMARK, iv) in ohlcv:
            b = ohlcv[(BENCHMARK, iv)]
            bench = pd.Series(log_returns(b.close.to_numpy()), index=lake.as_int(b.open_time_ms)).reindex(times).to_numpy()
        frames.append(risk_rows(sym, iv, times, g.close.to_numpy(), s.windows[iv], bench, f, s.risk_free_annual))
    return _concat(frames, RISK), origins, froms, covered


def _correlation(ohlcv: dict, tg: dict, windows: dict):
    frames, covered = [], {}
    for (iv,), f in sorted(tg.items()):
        cols = {sym: pd.Series(log_returns(g.close.to_numpy()), index=lake.as_int(g.open_time_ms))
                for (sym, i), g in ohlcv.items() if i == iv}
        if not cols or iv not in windows:
            continue
        lr = pd.DataFrame(cols)
        size = INTERVAL_MS[iv]
        lr = lr.reindex(np.arange(lr.index.min(), lr.index.max() + size, size))  # consecutive bars
        covered[(iv,)] = int(lr.index.max())
        frames.append(correlation_rows(iv, lr, windows[iv], f))
    return _concat(frames, CORRELATION), None, dict(tg), covered


def _last_bars(series: dict, tg: dict) -> dict[tuple, int]:
    return {k: int(series[k].open_time_ms.iloc[-1]) for k in tg if k in series and len(series[k])}


def _anomalies(ohlcv: dict, tg: dict, window: int):
    frames = [anomaly_rows(sym, iv, lake.as_int(g.open_time_ms), g.close.to_numpy(), g.volume.to_numpy(), window, f)
              for (sym, iv), f in sorted(tg.items()) if (g := ohlcv.get((sym, iv))) is not None]
    return _concat(frames, ANOMALIES), None, dict(tg), _last_bars(ohlcv, tg)


def _signals(files: LakeFiles, timer: Phases, silver_indicators: str, tg: dict):
    starts = {iv: (f - INTERVAL_MS[iv] if f > ORIGIN else ORIGIN) for iv, f in _by_interval(tg).items()}
    with timer("silver tails: silver_indicators"):
        ind = _series(lake.read_series(files, silver_indicators, starts, IND_COLS, final_only=False))
    frames = [signal_rows(sym, iv, g, f) for (sym, iv), f in sorted(tg.items()) if (g := ind.get((sym, iv))) is not None]
    return _concat(frames, SIGNALS), None, dict(tg), _last_bars(ind, tg)


def _portfolios(ohlcv: dict, tg: dict, portfolios, priors: dict, windows: dict):
    ports, positions, scope, covered = [], [], {}, {}
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
        covered[(name, iv)] = end
    return _concat(ports, PORTFOLIO), _concat(positions, POSITIONS), scope, covered


def _concat(frames: list, table: str) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns(table)))
