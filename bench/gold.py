"""Gold benchmark: a full gold build over D days of 1m candles x S symbols (silver written directly: final,
gap-free candles at all six intervals, and silver_indicators built by the silver job), the same computation
in pandas/numpy in one process (pandas rolling functions; no Spark, no Hudi), and the incremental gold update
after one more minute of silver (several minutes in a row, each timed, with the seconds of each phase of the
update from crypto_pipeline/gold/phases.py), the same update computed in pandas from the same silver tails
(the reference for the update), and the host's load average. Prints figures and ratios; never asserts timings.

    .venv/bin/python bench/gold.py                 # the issue's size: 30 days x 5 symbols
    .venv/bin/python bench/gold.py --days 3        # quicker

Starts its own MinIO (infra.local_stack), Spark local[2] with 2 shuffle partitions, default windows."""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

T0 = 1704067200000
MIN = 60_000
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")


def synth_minutes(days: int, symbols: int, extra: int = 0, seed: int = 7) -> pd.DataFrame:
    """Final 1m candles: a correlated random walk per symbol (close, volume)."""
    rng = np.random.default_rng(seed)
    n = days * 1440 + extra
    common = rng.normal(0, 0.0008, n)
    frames = []
    for i, s in enumerate(SYMBOLS[:symbols]):
        close = np.round(100 * (i + 1) * np.exp(np.cumsum(common + rng.normal(0, 0.0006, n))), 2)
        vol = np.round(rng.gamma(2.0, 5.0, n), 5)
        frames.append(pd.DataFrame({"symbol": s, "open_time_ms": T0 + MIN * np.arange(n), "close": close,
                                    "volume": vol}))
    return pd.concat(frames, ignore_index=True)


def candles(minutes: pd.DataFrame) -> pd.DataFrame:
    """Silver rows at all six intervals (OHLC rolled up from the 1m closes; every candle final)."""
    from crypto_pipeline.silver.intervals import INTERVAL_MS, period_of
    out = []
    for iv, size in INTERVAL_MS.items():
        g = minutes.assign(open_time_ms=minutes.open_time_ms - minutes.open_time_ms % size)
        agg = g.groupby(["symbol", "open_time_ms"], sort=True).agg(
            open=("close", "first"), high=("close", "max"), low=("close", "min"), close=("close", "last"),
            volume=("volume", "sum"), n=("close", "size")).reset_index()
        agg = agg[agg.n == size // MIN] if iv != "1m" else agg  # only complete (final) buckets
        agg["interval"] = iv
        agg["close_time_ms"] = agg.open_time_ms + size - 1
        agg["period"] = [period_of(int(t), iv) for t in agg.open_time_ms]
        out.append(agg)
    return pd.concat(out, ignore_index=True)


def write_silver(spark, path: str, rows: pd.DataFrame, op: str) -> None:
    from decimal import Decimal

    from crypto_pipeline.silver import hudi
    from crypto_pipeline.silver.ohlcv_job import _schema
    from crypto_pipeline.silver.tables import PRECOMBINE, SERIES_KEY, SERIES_PARTITION
    d = lambda x: Decimal(str(x))  # noqa: E731
    recs = [(r.symbol, r.interval, int(r.open_time_ms), int(r.close_time_ms), d(r.open), d(r.high), d(r.low),
             d(r.close), d(r.volume), d(round(r.volume * r.close, 8)), d(0), d(0), int(r.n), 1, int(r.n), True, "simulator", r.period)
            for r in rows.itertuples()]
    from pyspark.sql import functions as F
    df = spark.createDataFrame(recs, _schema(spark)).withColumn(PRECOMBINE, F.lit(int(time.time() * 1000)))
    opts = hudi.write_options("silver_ohlcv", SERIES_KEY, SERIES_PARTITION, PRECOMBINE, {"bench": True})
    opts["hoodie.datasource.write.operation"] = op
    df.write.format("hudi").options(**opts).mode("append").save(path)


def pandas_reference(c: pd.DataFrame, ind: pd.DataFrame) -> dict:
    """The gold metrics with pandas rolling functions (the textbook way) over the same series."""
    from crypto_pipeline.gold.tables import DEFAULT_WINDOWS, PERIODS_PER_YEAR
    rows = {}
    for iv, g in c.groupby("interval"):
        wide = g.pivot(index="open_time_ms", columns="symbol", values="close")
        r, lr = wide / wide.shift(1) - 1, np.log(wide / wide.shift(1))
        n = PERIODS_PER_YEAR[iv]
        count = 0
        for w in DEFAULT_WINDOWS[iv]:
            roll, lroll = r.rolling(w, min_periods=w), lr.rolling(w, min_periods=w)
            vol = lroll.std() * np.sqrt(n)
            var95, var99 = -roll.quantile(0.05), -roll.quantile(0.01)
            k95, k99 = int((w - 1) * 0.05) + 1, int((w - 1) * 0.01) + 1
            cvar95 = -roll.apply(lambda x: np.sort(x)[:k95].mean(), raw=True)
            cvar99 = -roll.apply(lambda x: np.sort(x)[:k99].mean(), raw=True)
            mdd = roll.apply(lambda x: (np.cumprod(1 + x) / np.maximum.accumulate(np.maximum(np.cumprod(1 + x), 1)) - 1).min(),
                             raw=True).clip(upper=0)
            sharpe = roll.mean() / roll.std() * np.sqrt(n)
            sortino = roll.mean() / np.sqrt((r.clip(upper=0) ** 2).rolling(w, min_periods=w).mean()) * np.sqrt(n)
            beta = lroll.cov(lr["BTCUSDT"]).div(lr["BTCUSDT"].rolling(w, min_periods=w).var(), axis=0)
            corr = lroll.corr()
            count += sum(x.size for x in (vol, var95, var99, cvar95, cvar99, mdd, sharpe, sortino, beta)) + corr.size
        prev = lr.shift(1).rolling(60, min_periods=60)
        z = (lr - prev.mean()) / prev.std()
        count += int((z.abs() >= 3).sum().sum())
        rows[iv] = count
    for (sym, iv), g in ind.groupby(["symbol", "interval"]):  # signals: vectorised crosses
        a, b = g.sma_50.to_numpy(), g.sma_200.to_numpy()
        rows[f"signals_{sym}_{iv}"] = int(((np.roll(a, 1) <= np.roll(b, 1)) & (a > b))[1:].sum())
    return rows


def pandas_update(minutes: pd.DataFrame, minute_ms: int) -> dict:
    """The reference for one update: the same pandas computation over the tail the update needs (the 1m window
    of 1,440 returns before the new minute, all symbols), from memory."""
    tail = minutes[(minutes.open_time_ms > minute_ms - 1442 * MIN) & (minutes.open_time_ms <= minute_ms)]
    return pandas_reference(tail.assign(interval="1m")[["symbol", "interval", "open_time_ms", "close"]],
                            pd.DataFrame(columns=["symbol", "interval", "open_time_ms", "sma_50", "sma_200"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--symbols", type=int, default=5)
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--minutes", type=int, default=3, help="one-minute updates timed after the full build")
    args = ap.parse_args()

    import os

    from crypto_pipeline.gold.job import update_gold
    from crypto_pipeline.gold.phases import Phases
    from crypto_pipeline.silver.indicators_job import update_indicators
    from lake_session import spark_on_minio
    from shared.portfolios import load_portfolios

    out: dict = {"days": args.days, "symbols": args.symbols, "load_average_at_start": os.getloadavg()}
    ports = load_portfolios().portfolios
    with spark_on_minio("bench-gold", args.driver_memory) as (spark, bucket):
        lake = f"s3a://{bucket}/bench-gold-{int(time.time())}"
        silver, ind, state = f"{lake}/silver/ohlcv", f"{lake}/silver/indicators", f"{lake}/silver/indicator_state"
        minutes = synth_minutes(args.days, args.symbols, extra=args.minutes)
        extra = sorted(minutes.open_time_ms.unique())[-args.minutes:]
        base = candles(minutes[minutes.open_time_ms < extra[0]])
        out["silver_rows"] = len(base)
        t = time.monotonic()
        write_silver(spark, silver, base, "bulk_insert")
        update_indicators(spark, silver, ind, state)
        out["setup_silver_s"] = time.monotonic() - t

        t = time.monotonic()
        runs = update_gold(spark, silver, ind, lake, portfolios=ports)
        out["gold_full_build_s"] = time.monotonic() - t
        out["gold_full_rows_written"] = {k: r.rows_written for k, r in runs.items()}

        ind_pd = spark.read.format("hudi").load(ind).select("symbol", "interval", "open_time_ms", "sma_50", "sma_200") \
            .toPandas().sort_values(["symbol", "interval", "open_time_ms"])
        ref_in = base[["symbol", "interval", "open_time_ms", "close"]].astype({"close": float})
        t = time.monotonic()
        pandas_reference(ref_in, ind_pd)
        out["pandas_reference_s"] = time.monotonic() - t
        out["ratio_gold_full_vs_pandas"] = out["gold_full_build_s"] / out["pandas_reference_s"]

        # one more minute at a time: 1m candles of that minute (final), then silver_indicators, then gold
        allc = candles(minutes)
        out["gold_incremental_s"], out["rows_written_per_update"] = [], []
        for m in extra:
            write_silver(spark, silver, allc[(allc.interval == "1m") & (allc.open_time_ms == m)], "upsert")
            update_indicators(spark, silver, ind, state)
            phases = Phases(spark)
            t = time.monotonic()
            runs = update_gold(spark, silver, ind, lake, portfolios=ports, phases=phases)
            out["gold_incremental_s"].append(round(time.monotonic() - t, 2))
            out["rows_written_per_update"].append({k: r.rows_written for k, r in runs.items()})
        out["gold_incremental_median_s"] = float(np.median(out["gold_incremental_s"]))
        out["last_update_s_to_each_commit"] = {k: r.seconds for k, r in runs.items()}
        out["last_update_inserted_without_lookup"] = {k: r.inserted for k, r in runs.items()}
        out["last_update_seconds_by_phase"] = phases.seconds
        t = time.monotonic()
        pandas_update(minutes, extra[-1])
        out["pandas_update_reference_s"] = time.monotonic() - t
        out["ratio_gold_update_vs_pandas"] = out["gold_incremental_median_s"] / out["pandas_update_reference_s"]
        t = time.monotonic()
        runs = update_gold(spark, silver, ind, lake, portfolios=ports)
        out["gold_rerun_no_change_s"] = time.monotonic() - t
        out["load_average_at_end"] = os.getloadavg()
        print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
