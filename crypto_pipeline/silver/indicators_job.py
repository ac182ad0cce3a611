"""One incremental silver_indicators run over the final candles of silver_ohlcv.

Which candles changed is read the same way silver_ohlcv reads bronze: a Hudi incremental query on
silver_ohlcv from the completion time stored in silver_indicators' last commit. Per (symbol, interval):
* the saved loop state covers every final candle up to ``last_open_time_ms`` and no changed final
  candle is at or before it -> **carry**: resume the TA-Lib loops from the state over the new candles;
* otherwise (first run, or a late trade restated a candle the state had already consumed) ->
  **recompute from the series origin**, and write rows from the first changed candle on (the
  indicators are causal, so earlier rows cannot have changed).
Both paths run the same loop code, so they give bit-identical values (tests check it).

Order of writes: state first, then indicator rows with the checkpoint in their commit. A crash in
between leaves the checkpoint behind, the rerun sees a changed candle at/before the state's end and
recomputes from the origin - correct either way.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crypto_pipeline.lakehouse.hudi import append_rows
from crypto_pipeline.silver import hudi
from crypto_pipeline.silver.candles import period_col
from crypto_pipeline.silver.indicators import OUTPUT_COLUMNS, IndicatorState
from crypto_pipeline.silver.tables import PRECOMBINE, SERIES_KEY, SERIES_PARTITION

INDICATOR_SCHEMA = ", ".join(["symbol string", "interval string", "open_time_ms bigint", "close double",
                              *[f"{c} double" for c in OUTPUT_COLUMNS], "state_json string"])


@dataclass
class IndicatorRunResult:
    skipped: bool = False
    ohlcv_begin: str | None = None
    ohlcv_end: str | None = None
    series_carried: int = 0
    series_recomputed: int = 0
    rows_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _series_rows(key, candles, states: dict, write_from: dict):
    """All output rows of one series; the last one carries the new state as JSON."""
    text = states.get(key)
    st = IndicatorState.from_json(text) if text else IndicatorState()
    start = write_from.get(key, -1)
    out = []
    ordered = sorted(candles)
    for i, (ot, close) in enumerate(ordered):
        x = float(close)  # Decimal -> nearest double, the value TA-Lib would be fed
        vals = st.update(x, ot)
        if ot >= start:
            out.append([key[0], key[1], ot, x, *[vals[c] for c in OUTPUT_COLUMNS], None])
    if out:
        out[-1][-1] = st.to_json()
    elif ordered:  # nothing to write but the state moved (cannot happen with start <= last) - keep it
        out.append([key[0], key[1], ordered[-1][0], float(ordered[-1][1]), *[None] * len(OUTPUT_COLUMNS), st.to_json()])
    return out


def update_indicators(spark: SparkSession, silver_ohlcv: str, indicators_path: str, state_path: str,
                      parallelism: int = 2, now_ms: int | None = None) -> IndicatorRunResult:
    res, t0 = IndicatorRunResult(), time.monotonic()
    _, res.ohlcv_begin, res.ohlcv_end = hudi.pending_commits(spark, indicators_path, silver_ohlcv, "silver_ohlcv")
    if res.ohlcv_end is None or res.ohlcv_begin == res.ohlcv_end:
        res.skipped = True
        return res
    changed = {(r.symbol, r.interval): r.first for r in
               hudi.read_incremental(spark, silver_ohlcv, res.ohlcv_begin, res.ohlcv_end)
               .filter("is_final").groupBy("symbol", "interval").agg(F.min("open_time_ms").alias("first")).collect()}
    saved = {}
    if hudi.table_exists(spark, state_path):
        saved = {(r.symbol, r.interval): (r.last_open_time_ms, r.state_json) for r in
                 hudi.read_snapshot(spark, state_path).select("symbol", "interval", "last_open_time_ms", "state_json")
                 .collect()}
    states, write_from, cond = {}, {}, F.lit(False)
    for key, first in changed.items():
        series = (F.col("symbol") == key[0]) & (F.col("interval") == key[1])
        if key in saved and first > saved[key][0]:
            states[key] = saved[key][1]
            res.series_carried += 1
            cond = cond | (series & (F.col("open_time_ms") > saved[key][0]))
        else:
            write_from[key] = first if key in saved else -1
            res.series_recomputed += 1
            cond = cond | series
    res.seconds["plan"] = time.monotonic() - t0
    if changed:
        b_states, b_from = spark.sparkContext.broadcast(states), spark.sparkContext.broadcast(write_from)
        rdd = (hudi.read_snapshot(spark, silver_ohlcv).filter(F.col("is_final") & cond)
               .select("symbol", "interval", "open_time_ms", "close").rdd
               .map(lambda r: ((r[0], r[1]), (r[2], r[3])))
               .groupByKey(numPartitions=parallelism)
               .flatMap(lambda kv: _series_rows(kv[0], kv[1], b_states.value, b_from.value)))
        rows = spark.createDataFrame(rdd, INDICATOR_SCHEMA).persist()
        stamp = now_ms if now_ms is not None else int(time.time() * 1000)
        state_rows = (rows.filter(F.col("state_json").isNotNull())
                      .select("symbol", "interval", F.col("open_time_ms").alias("last_open_time_ms"), "state_json",
                              F.lit(stamp).cast("bigint").alias(PRECOMBINE)))
        append_rows(state_rows, hudi.write_options(
            "silver_indicator_state", "symbol,interval", "symbol", PRECOMBINE, None, parallelism), state_path)
        out = rows.drop("state_json").withColumn("period", period_col("open_time_ms", "interval")) \
            .withColumn(PRECOMBINE, F.lit(stamp).cast("bigint"))
        res.rows_written = out.count()
    else:
        out = spark.createDataFrame([], INDICATOR_SCHEMA).drop("state_json") \
            .withColumn("period", F.lit("")).withColumn(PRECOMBINE, F.lit(0).cast("bigint"))
    res.seconds["compute"] = time.monotonic() - t0
    append_rows(out, hudi.write_options(
        "silver_indicators", SERIES_KEY, SERIES_PARTITION, PRECOMBINE, {"silver_ohlcv": res.ohlcv_end}, parallelism),
        indicators_path)
    res.seconds["write"] = time.monotonic() - t0
    if changed:
        rows.unpersist()
    return res
