"""The silver outlier rule: which bronze trades are kept out of candles, and why.

Rule (documented in README-silver.md), applied per trade, in this order:
1. ``invalid``: price <= 0, quantity <= 0, quote_quantity <= 0, or a null key/time. Binance never
   prints such a trade; it can only be a parsing or upstream bug. (quote_quantity = price * quantity is
   bronze's contract; Spark cannot re-check it exactly, because a DECIMAL(38,18) product loses scale.)
2. ``low_quality``: bronze's quality_score below ``min_quality_score`` (off by default: bronze owns
   that score's meaning, silver only honours a threshold if one is configured).
3. ``price_outlier``: |price / median - 1| > ``max_deviation`` where the median is the exact median
   price of the valid trades of the *same symbol and UTC minute*, judged only when that minute has at
   least ``min_trades`` valid trades (one or two trades cannot outvote each other).

Why per minute: the reference depends only on the trades of the bucket being (re)computed, so an
incremental run that restates a minute applies the rule to exactly the same set of trades as a full
rebuild does - the result is deterministic and reruns are idempotent. The default 10 % band is far
outside any real one-minute dispersion of a liquid spot pair (a flash crash moves the median with it)
yet catches fat-finger ticks and mis-scaled prices (x10, /100).
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

REASONS = ("invalid", "low_quality", "price_outlier")


@dataclass(frozen=True)
class OutlierRule:
    max_deviation: float = 0.10
    min_trades: int = 3
    min_quality_score: float | None = None

    def flag(self, trades: DataFrame) -> DataFrame:
        """``trades`` plus ``quality_reason`` (null = kept)."""
        valid = (F.col("price") > 0) & (F.col("quantity") > 0) & F.col("symbol").isNotNull() \
            & F.col("trade_id").isNotNull() & F.col("trade_time_ms").isNotNull() \
            & (F.col("quote_quantity") > 0)
        reason = F.when(~F.coalesce(valid, F.lit(False)), F.lit("invalid"))
        if self.min_quality_score is not None:
            reason = reason.when(F.coalesce(F.col("quality_score"), F.lit(0.0)) < self.min_quality_score,
                                 F.lit("low_quality"))
        t = trades.withColumn("quality_reason", reason) \
            .withColumn("_minute", F.col("trade_time_ms") - F.col("trade_time_ms") % F.lit(60_000))
        w = Window.partitionBy("symbol", "_minute")
        ok = F.col("quality_reason").isNull()
        px = F.when(ok, F.col("price").cast("double"))
        t = t.withColumn("_median", F.percentile(px, F.lit(0.5)).over(w)) \
             .withColumn("_n", F.count(px).over(w))
        outlier = ok & (F.col("_n") >= self.min_trades) \
            & (F.abs(F.col("price").cast("double") / F.col("_median") - 1.0) > self.max_deviation)
        return t.withColumn("quality_reason", F.when(outlier, F.lit("price_outlier")).otherwise(F.col("quality_reason"))) \
            .drop("_minute", "_median", "_n")
