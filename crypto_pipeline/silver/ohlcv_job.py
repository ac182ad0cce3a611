"""One incremental silver_ohlcv run: new bronze trade commits in, exactly the changed candles out.

How a run restates candles (README-silver.md, "Incremental design"):
1. Read the bronze trades committed since the checkpoint (Hudi incremental query, completion times
   (begin, end]; the first run reads everything up to ``end``).
2. The minutes those trades fall in are *touched*. Their 1m candles are recomputed from **all** bronze
   trades of those minutes (a replayed or corrected trade must not be counted twice), after the
   outlier rule.
3. Per symbol the restated range starts at the UTC day holding the earliest touched minute (or the old
   watermark, whichever is earlier): days nest every interval, so each 5m..1d bucket of the range is
   rebuilt from a complete set of 1m children - stored ones for untouched minutes, new ones for
   touched minutes. The close before the range seeds the flat empty candles.
4. Candles are filled through the bucket holding the new watermark and flagged final or not.
5. Only rows that differ from what silver holds are upserted, with the new checkpoint in the same
   commit's metadata. A late trade therefore rewrites its 1m candle, every larger candle containing it,
   and the empty candles that carried its close; a rerun writes nothing (but still commits its
   checkpoint), so runs are idempotent.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from crypto_pipeline.lakehouse.files import LakeFiles
from crypto_pipeline.lakehouse.hudi import append_rows
from crypto_pipeline.lakehouse.tables import TRADES
from crypto_pipeline.silver import hudi
from crypto_pipeline.silver.candles import CANDLE_COLS, DEC, all_intervals, fill_and_finalise, minute_candles
from crypto_pipeline.silver.intervals import DAILY_PARTITIONED, DAY_MS
from crypto_pipeline.silver.quality import OutlierRule
from crypto_pipeline.silver.tables import PRECOMBINE, SERIES_KEY, SERIES_PARTITION

TRADE_COLS = ("symbol", "trade_id", "price", "quantity", "quote_quantity", "trade_time_ms", "is_buyer_maker",
              "quality_score", "source", "dt")
DRIVER_READ_MAX_ROWS = 500_000  # ~10 minutes of trades at 1,000 msg/s; beyond, Spark reads them


@dataclass
class OhlcvRunResult:
    """What one run did; becomes the asset's metadata."""

    skipped: bool = False
    bronze_begin: str | None = None
    bronze_end: str | None = None
    trades_read: int = 0
    trades_recomputed: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    excluded_sample: list[str] = field(default_factory=list)
    late_trades: int = 0
    symbols: list[str] = field(default_factory=list)
    candles_written: dict[str, int] = field(default_factory=dict)
    watermarks: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def _in_range_filter(ranges: dict[str, int]) -> F.Column:
    """Partition-prunable predicate: rows of each symbol from its range start on."""
    cond = F.lit(False)
    for sym, start in ranges.items():
        day, month = _day(start), _day(start)[:7]
        by_period = (F.col("interval").isin(*DAILY_PARTITIONED) & (F.col("period") >= day)) | \
                    (~F.col("interval").isin(*DAILY_PARTITIONED) & (F.col("period") >= month))
        cond = cond | ((F.col("symbol") == sym) & by_period & (F.col("open_time_ms") >= start))
    return cond


def _bronze_partitions(pairs: list[tuple[str, str]]) -> F.Column:
    cond = F.lit(False)
    for sym, dt in pairs:
        cond = cond | ((F.col("symbol") == sym) & (F.col("dt") == dt))
    return cond


def update_ohlcv(spark: SparkSession, bronze_trades: str, silver_ohlcv: str, rule: OutlierRule = OutlierRule(),
                 parallelism: int = 2, now_ms: int | None = None) -> OhlcvRunResult:
    """Bring silver_ohlcv up to date with bronze trades (idempotent; see module doc)."""
    res, t0 = OhlcvRunResult(), time.monotonic()
    ckpt, res.bronze_begin, res.bronze_end = hudi.pending_commits(spark, silver_ohlcv, bronze_trades, "bronze_trades")
    if res.bronze_end is None or res.bronze_begin == res.bronze_end:
        res.skipped = True
        return res
    old_wm: dict[str, int] = ckpt.get("watermarks", {})

    new = _new_trades(spark, bronze_trades, res.bronze_begin, res.bronze_end).persist(StorageLevel.MEMORY_AND_DISK)
    stats = new.groupBy("symbol").agg(F.min("trade_time_ms").alias("lo"), F.max("trade_time_ms").alias("hi"),
                                      F.count(F.lit(1)).alias("n")).collect()
    res.trades_read = sum(r.n for r in stats)
    res.seconds["read_increment"] = time.monotonic() - t0
    if not stats:  # commits without trades (e.g. deletes only): just advance the checkpoint
        _write(spark, spark.createDataFrame([], _schema(spark)), silver_ohlcv, ckpt | {"bronze_trades": res.bronze_end},
               parallelism)
        new.unpersist()
        return res

    full = not hudi.table_exists(spark, silver_ohlcv)
    wm = dict(old_wm)
    ranges: dict[str, int] = {}
    for r in stats:
        lo = min(r.lo, old_wm[r.symbol]) if r.symbol in old_wm else r.lo
        ranges[r.symbol] = lo - lo % DAY_MS
        wm[r.symbol] = max(old_wm.get(r.symbol, r.hi), r.hi)
    res.symbols = sorted(ranges)
    res.watermarks = {s: wm[s] for s in res.symbols}

    minute = F.col("trade_time_ms") - F.col("trade_time_ms") % F.lit(60_000)
    touched = new.select("symbol", minute.alias("open_time_ms")).distinct()
    if old_wm:  # trades whose 1m candle had already been final: they restate "closed" history
        owm = spark.createDataFrame(list(old_wm.items()), "symbol string, old_wm long")
        res.late_trades = new.join(owm, "symbol").filter(minute + 59_999 < F.col("old_wm")).count()

    if full:
        src = new
    else:  # every trade of the touched minutes, not only the new ones
        pairs = [(r.symbol, r.dt) for r in new.select("symbol", "dt").distinct().collect()]
        src = (hudi.read_snapshot(spark, bronze_trades).filter(_bronze_partitions(pairs)).select(*TRADE_COLS)
               .withColumn("_m", minute)
               .join(F.broadcast(touched.withColumnRenamed("open_time_ms", "_m")), ["symbol", "_m"], "left_semi")
               .drop("_m"))
    flagged = rule.flag(src).persist(StorageLevel.MEMORY_AND_DISK)
    reasons = flagged.groupBy("quality_reason").count().collect()
    res.trades_recomputed = sum(r["count"] for r in reasons)
    res.excluded = {r.quality_reason: r["count"] for r in reasons if r.quality_reason is not None}
    if res.excluded:
        res.excluded_sample = [f"{r.symbol} #{r.trade_id} {r.price} ({r.quality_reason})" for r in
                               flagged.filter(F.col("quality_reason").isNotNull()).limit(20).collect()]
    m1_new = minute_candles(flagged.filter(F.col("quality_reason").isNull()))
    res.seconds["recompute_minutes"] = time.monotonic() - t0

    if full:
        existing = spark.createDataFrame([], _schema(spark))
        prev_close: dict[str, tuple] = {}
    else:
        snap = _with_source(hudi.read_snapshot(spark, silver_ohlcv)).select(*CANDLE_COLS)
        existing = snap.filter(_in_range_filter(ranges)).persist(StorageLevel.MEMORY_AND_DISK)
        prev_close = _prev_closes(snap, ranges)
    m1_kept = (existing.filter((F.col("interval") == "1m") & (F.col("trade_count") > 0))
               .join(touched, ["symbol", "open_time_ms"], "left_anti"))
    m1 = m1_kept.select(*m1_new.columns).unionByName(m1_new).persist(StorageLevel.MEMORY_AND_DISK)
    bounds = spark.createDataFrame(
        [(s, ranges[s], *prev_close.get(s, (None, None)), wm[s]) for s in res.symbols],
        f"symbol string, range_start_ms long, prev_close {DEC.simpleString()}, prev_source string, watermark_ms long")
    candles = fill_and_finalise(all_intervals(m1), bounds)
    changed = candles.subtract(existing).persist(StorageLevel.MEMORY_AND_DISK)
    res.candles_written = {r.interval: r["count"] for r in changed.groupBy("interval").count().collect()}
    res.seconds["build_candles"] = time.monotonic() - t0
    _write(spark, changed, silver_ohlcv, {"bronze_trades": res.bronze_end, "watermarks": wm}, parallelism, now_ms)
    res.seconds["write"] = time.monotonic() - t0
    for df in (new, flagged, existing, m1, changed):
        df.unpersist()
    return res


def _new_trades(spark: SparkSession, path: str, begin: str | None, end: str) -> DataFrame:
    """The trades of the bronze commits in (begin, end]. Read in the driver from the files those commits wrote
    when it can (a run's few thousand rows: Hudi's incremental query reads them with a per-row file-group
    reader, most of a run's time in docs/benchmarks-silver.md); Hudi's query otherwise (the first run, a
    range with cleaned files or archived commits, a catch-up larger than :data:`DRIVER_READ_MAX_ROWS`)."""
    table = (LakeFiles(spark).increment_table(path, begin, end, list(TRADE_COLS), skip_rewrites=True,
                                              max_rows=DRIVER_READ_MAX_ROWS) if begin else None)
    if table is None:
        return hudi.read_incremental(spark, path, begin, end).select(*TRADE_COLS)
    return spark.createDataFrame(table.to_pandas(), StructType([TRADES.schema[c] for c in TRADE_COLS]))


def _with_source(snap: DataFrame) -> DataFrame:
    """Tables written before candles carried ``source`` read it as null (the next restatement fills it)."""
    return snap if "source" in snap.columns else snap.withColumn("source", F.lit(None).cast("string"))


def _prev_closes(snap: DataFrame, ranges: dict[str, int]) -> dict[str, tuple]:
    """(close, source) of the 1m candle just before each range start (the series is gap-free, so this is
    the close every interval carries into the range); absent when the symbol starts inside the range."""
    cond = F.lit(False)
    for sym, start in ranges.items():
        cond = cond | ((F.col("symbol") == sym) & (F.col("interval") == "1m") & (F.col("period") == _day(start - 60_000))
                       & (F.col("open_time_ms") == start - 60_000))
    return {r.symbol: (r.close, r.source) for r in snap.filter(cond).select("symbol", "close", "source").collect()}


def _schema(spark: SparkSession):
    from crypto_pipeline.silver.candles import PRICE_COLS, VOLUME_COLS
    cols = [("symbol", "string"), ("interval", "string"), ("open_time_ms", "bigint"), ("close_time_ms", "bigint")]
    cols += [(c, DEC.simpleString()) for c in (*PRICE_COLS, *VOLUME_COLS)]
    cols += [("trade_count", "bigint"), ("first_trade_id", "bigint"), ("last_trade_id", "bigint"),
             ("is_final", "boolean"), ("source", "string"), ("period", "string")]
    return ", ".join(f"{n} {t}" for n, t in cols)


def _write(spark: SparkSession, rows: DataFrame, path: str, checkpoint: dict, parallelism: int,
           now_ms: int | None = None) -> None:
    stamp = now_ms if now_ms is not None else int(time.time() * 1000)
    out = rows.withColumn(PRECOMBINE, F.lit(stamp).cast("bigint"))
    opts = hudi.write_options("silver_ohlcv", SERIES_KEY, SERIES_PARTITION, PRECOMBINE, checkpoint, parallelism)
    append_rows(out, opts, path)

