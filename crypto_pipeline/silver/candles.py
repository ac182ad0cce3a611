"""Binance kline semantics in Spark (spec §1.3-1.6): 1m candles from trades, exact roll-up to the larger
intervals, and gap filling with flat empty candles.

Why roll up instead of aggregating every interval from trades: the buckets nest (§1.2), so with exact
decimal sums and empty children excluded from open/high/low the roll-up equals direct aggregation
(§1.6; a property test checks it), and an incremental run then only re-reads the trades of the
minutes it touches — every larger candle is rebuilt from stored 1m candles."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, LongType

from crypto_pipeline.silver.intervals import DAILY_PARTITIONED, INTERVAL_MS

DEC = DecimalType(38, 18)
PRICE_COLS = ("open", "high", "low", "close")
VOLUME_COLS = ("volume", "quote_volume", "taker_buy_base_volume", "taker_buy_quote_volume")
CANDLE_COLS = ("symbol", "interval", "open_time_ms", "close_time_ms", *PRICE_COLS, *VOLUME_COLS,
               "trade_count", "first_trade_id", "last_trade_id", "is_final", "source", "period")


def sources_label(sources: Column) -> Column:
    """The bronze ``source`` values of a candle's trades as one sorted, comma-joined label
    ("binance", "binance,rest_backfill"): simulated data never passes for real, even when mixed."""
    return F.array_join(F.array_sort(F.array_distinct(sources)), ",")


def _zero() -> Column:
    return F.lit(0).cast(DEC)


def minute_candles(trades: DataFrame) -> DataFrame:
    """Non-empty 1m candles from trades (symbol, trade_id, price, quantity, quote_quantity,
    trade_time_ms, is_buyer_maker). Open/close by (trade time, trade id): many trades share a
    millisecond and the id breaks the tie (§1.3). quote_quantity is bronze's exact price*qty."""
    order = F.struct("trade_time_ms", "trade_id")
    taker_buy = ~F.col("is_buyer_maker")  # m = false: the taker bought
    return (trades
            .withColumn("open_time_ms", F.col("trade_time_ms") - F.col("trade_time_ms") % F.lit(INTERVAL_MS["1m"]))
            .groupBy("symbol", "open_time_ms")
            .agg(F.min_by("price", order).alias("open"), F.max("price").alias("high"),
                 F.min("price").alias("low"), F.max_by("price", order).alias("close"),
                 F.sum("quantity").cast(DEC).alias("volume"),
                 F.sum("quote_quantity").cast(DEC).alias("quote_volume"),
                 F.sum(F.when(taker_buy, F.col("quantity")).otherwise(_zero())).cast(DEC).alias("taker_buy_base_volume"),
                 F.sum(F.when(taker_buy, F.col("quote_quantity")).otherwise(_zero())).cast(DEC).alias("taker_buy_quote_volume"),
                 F.count(F.lit(1)).alias("trade_count"),
                 F.min("trade_id").alias("first_trade_id"), F.max("trade_id").alias("last_trade_id"),
                 sources_label(F.collect_set("source")).alias("source"))
            .withColumn("interval", F.lit("1m")))


def all_intervals(minutes: DataFrame) -> DataFrame:
    """Non-empty candles at every interval from non-empty 1m candles (§1.6), in ONE aggregation:
    each 1m child is paired with its bucket at every interval (1m itself included), then grouped.
    Sums run over all children; OHLC and trade ids over non-empty children only (an empty child
    carries the previous close, not a trade), which is why empties are filtered out first."""
    spark = minutes.sparkSession
    c = (minutes.drop("interval").filter(F.col("trade_count") > 0)
         .withColumnRenamed("open_time_ms", "child_open_ms")
         .crossJoin(F.broadcast(_interval_sizes(spark)))
         .withColumn("open_time_ms", F.col("child_open_ms") - F.col("child_open_ms") % F.col("size_ms")))
    return (c.groupBy("symbol", "interval", "open_time_ms")
            .agg(F.min_by("open", "child_open_ms").alias("open"), F.max("high").alias("high"),
                 F.min("low").alias("low"), F.max_by("close", "child_open_ms").alias("close"),
                 *[F.sum(v).cast(DEC).alias(v) for v in VOLUME_COLS],
                 F.sum("trade_count").cast(LongType()).alias("trade_count"),
                 F.min("first_trade_id").alias("first_trade_id"), F.max("last_trade_id").alias("last_trade_id"),
                 sources_label(F.flatten(F.collect_set(F.split("source", ",")))).alias("source")))


def _nonempty_cols() -> list[str]:
    return ["symbol", "interval", "open_time_ms", *PRICE_COLS, *VOLUME_COLS, "trade_count",
            "first_trade_id", "last_trade_id"]


def _interval_sizes(spark) -> DataFrame:
    return spark.createDataFrame([(k, v) for k, v in INTERVAL_MS.items()], "interval string, size_ms long")


def fill_and_finalise(nonempty: DataFrame, bounds: DataFrame) -> DataFrame:
    """Every interval from the range start (or the symbol's first trade) through the bucket holding the
    watermark, flat empty candles where no trade happened (§1.5), and the final flag.

    ``bounds``: symbol, range_start_ms (day-aligned; nothing before it is restated), prev_close and
    prev_source (close and source of the last candle before range_start, null if the symbol has none: then
    the series starts at its first non-empty candle), watermark_ms (largest trade time seen for the symbol). A candle is final
    once the watermark is past its close_time; the bucket holding the watermark is emitted as not final.
    """
    spark = nonempty.sparkSession
    first = nonempty.groupBy("symbol", "interval").agg(F.min("open_time_ms").alias("first_ne"))
    grid = (bounds.crossJoin(_interval_sizes(spark))
            .join(first, ["symbol", "interval"], "left")
            .withColumn("g_start", F.when(F.col("prev_close").isNotNull(), F.col("range_start_ms"))
                        .otherwise(F.col("first_ne")))
            .withColumn("g_end", F.col("watermark_ms") - F.col("watermark_ms") % F.col("size_ms"))
            .filter(F.col("g_start").isNotNull() & (F.col("g_start") <= F.col("g_end")))
            .select("symbol", "interval", "size_ms", "prev_close", "prev_source", "watermark_ms",
                    F.explode(F.sequence("g_start", "g_end", "size_ms")).alias("open_time_ms")))
    w = (Window.partitionBy("symbol", "interval").orderBy("open_time_ms")
         .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    j = grid.join(nonempty, ["symbol", "interval", "open_time_ms"], "left")
    carried = F.coalesce(F.last("close", ignorenulls=True).over(w), F.col("prev_close"))
    empty = F.col("trade_count").isNull()
    # an empty candle shows the carried close, so it carries the source of that close too
    j = j.withColumn("_carry", carried).withColumn(
        "_carry_source", F.coalesce(F.last("source", ignorenulls=True).over(w), F.col("prev_source")))
    cols = {p: F.when(empty, F.col("_carry")).otherwise(F.col(p)) for p in PRICE_COLS}
    cols.update({v: F.when(empty, _zero()).otherwise(F.col(v)) for v in VOLUME_COLS})
    cols["source"] = F.when(empty, F.col("_carry_source")).otherwise(F.col("source"))
    cols.update({"trade_count": F.coalesce("trade_count", F.lit(0).cast(LongType())),
                 "first_trade_id": F.coalesce("first_trade_id", F.lit(-1).cast(LongType())),
                 "last_trade_id": F.coalesce("last_trade_id", F.lit(-1).cast(LongType())),
                 "close_time_ms": F.col("open_time_ms") + F.col("size_ms") - F.lit(1),
                 "is_final": F.col("watermark_ms") > F.col("open_time_ms") + F.col("size_ms") - F.lit(1),
                 "period": period_col("open_time_ms", "interval")})
    return j.withColumns(cols).select(*CANDLE_COLS)


def period_col(open_col: str, interval_col: str) -> Column:
    """Partition value (see intervals.period_of): UTC day for 1m/5m/15m, UTC month for the rest."""
    ts = F.timestamp_millis(F.col(open_col))
    return F.when(F.col(interval_col).isin(*DAILY_PARTITIONED), F.date_format(ts, "yyyy-MM-dd")) \
        .otherwise(F.date_format(ts, "yyyy-MM"))
