"""Reconciliation of silver 1m candles with the exchange's own closed 1m klines in bronze (spec §1.6).

Compared only where both sides have the interval: OHLC, trade count and trade ids must match exactly,
volumes after rounding both to 8 dp (Binance prints 8 decimals; rounding vs truncation is open, §6).
Silver candles with no exchange row are reported separately: they are flat empty candles during an
exchange BREAK (or klines bronze never received), not mismatches. So is a symbol's first candle when the
exchange's kline began with earlier trade ids and ends with the same one: ingest started during that minute
(a fresh stack starts mid-minute), so bronze never saw its first trades — a partial candle, known as such,
not a disagreement about the trades both sides have."""
from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crypto_pipeline.silver import hudi
from crypto_pipeline.silver.candles import PRICE_COLS, VOLUME_COLS

EXACT = (*PRICE_COLS, "trade_count", "first_trade_id", "last_trade_id")


@dataclass
class Reconciliation:
    compared: int = 0
    mismatched: int = 0
    silver_only: int = 0
    silver_only_empty: int = 0
    exchange_only: int = 0
    partial_at_start: int = 0     # first candles of a symbol whose earlier trades predate ingest
    mismatches: list[dict] = field(default_factory=list)


def reconcile_1m(spark: SparkSession, silver_ohlcv: str, bronze_klines: str, since_ms: int = 0,
                 sample: int = 50) -> Reconciliation:
    """Count and list disagreements between final silver 1m candles and closed exchange 1m klines."""
    s = (hudi.read_snapshot(spark, silver_ohlcv).filter("interval = '1m' AND is_final")
         .filter(F.col("open_time_ms") >= since_ms)
         .select("symbol", "open_time_ms", *EXACT, *VOLUME_COLS))
    k = (hudi.read_snapshot(spark, bronze_klines).filter("interval = '1m' AND is_closed")
         .filter(F.col("open_time_ms") >= since_ms)
         .select("symbol", "open_time_ms", *[F.col(c).alias("x_" + c) for c in (*EXACT, *VOLUME_COLS)]))
    # only up to silver's horizon per symbol: later klines are simply not built yet
    horizon = s.groupBy("symbol").agg(F.max("open_time_ms").alias("h"), F.min("open_time_ms").alias("lo"))
    k = k.join(horizon, "symbol").filter((F.col("open_time_ms") <= F.col("h")) & (F.col("open_time_ms") >= F.col("lo"))) \
        .drop("h", "lo")
    j = s.join(k, ["symbol", "open_time_ms"], "full_outer").persist()
    diffs = [F.when(~F.col(c).eqNullSafe(F.col("x_" + c)), F.lit(c)) for c in EXACT]
    diffs += [F.when(~F.round(F.col(c), 8).eqNullSafe(F.round(F.col("x_" + c), 8)), F.lit(c)) for c in VOLUME_COLS]
    first = s.groupBy("symbol").agg(F.min("open_time_ms").alias("first_ms"))
    j = j.join(first, "symbol", "left")
    partial = ((F.col("open_time_ms") == F.col("first_ms")) & (F.col("x_first_trade_id") < F.col("first_trade_id"))
               & (F.col("x_last_trade_id") == F.col("last_trade_id")))
    both = F.col("open").isNotNull() & F.col("x_open").isNotNull() & ~partial
    j = j.withColumn("diff", F.when(both, F.concat_ws(",", *diffs)))
    counts = j.agg(F.sum(both.cast("int")).alias("compared"),
                   F.sum((F.col("open").isNotNull() & F.col("x_open").isNotNull() & partial).cast("int"))
                   .alias("partial_at_start"),
                   F.sum((both & (F.col("diff") != "")).cast("int")).alias("mismatched"),
                   F.sum(F.col("x_open").isNull().cast("int")).alias("silver_only"),
                   F.sum((F.col("x_open").isNull() & (F.col("trade_count") == 0)).cast("int")).alias("silver_only_empty"),
                   F.sum(F.col("open").isNull().cast("int")).alias("exchange_only")).first()
    rec = Reconciliation(**{f: int(counts[f] or 0) for f in
                            ("compared", "mismatched", "silver_only", "silver_only_empty", "exchange_only",
                             "partial_at_start")})
    bad = j.filter((both & (F.col("diff") != "")) | F.col("open").isNull()).orderBy("symbol", "open_time_ms").limit(sample)
    rec.mismatches = [{"symbol": r.symbol, "open_time_ms": r.open_time_ms,
                       "fields": r.diff if r.diff is not None else "missing in silver",
                       "silver": None if r.open is None else f"{r.open}/{r.high}/{r.low}/{r.close} n={r.trade_count}",
                       "exchange": f"{r.x_open}/{r.x_high}/{r.x_low}/{r.x_close} n={r.x_trade_count}"}
                      for r in bad.collect()]
    j.unpersist()
    return rec
