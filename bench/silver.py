"""Silver benchmark: full build from N trades (all intervals + indicators) on Spark + Hudi on MinIO vs
DuckDB computing the same non-empty OHLCV from the same Parquet, and an incremental run after one more
minute of trades. Prints figures; never asserts timings.

    .venv/bin/python bench/silver.py --trades 10000000      # the issue's size
    .venv/bin/python bench/silver.py --trades 1000000       # quicker

Starts its own MinIO (infra.local_stack), Spark local[2] with 2 shuffle partitions."""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

T0 = 1704067200000
DAY = 86_400_000


def synth_trades(spark, n: int, symbols: int, span_ms: int, t_start: int = T0, id_offset: int = 0):
    """Deterministic trades: symbol = id % S, evenly spaced in time, price a wiggle + hash noise (2 dp),
    qty hash-based (5 dp); quote = price * qty exact (decimal(18,2) x decimal(18,5))."""
    from pyspark.sql import functions as F
    step = max(1, span_ms * symbols // n)
    k = ((F.col("id") - id_offset) / symbols).cast("long")
    price = (F.lit(100.0) + F.sin(k / 5000.0) * 10 + (F.abs(F.hash("id")) % 100) / 100.0).cast("decimal(18,2)")
    qty = ((F.abs(F.hash("id", F.lit(1))) % 100000 + 1) / 100000.0).cast("decimal(18,5)")
    t = F.lit(t_start) + k * step
    df = (spark.range(id_offset, id_offset + n)
          .withColumn("symbol", F.concat(F.lit("S"), (F.col("id") % symbols).cast("string"), F.lit("USDT")))
          .withColumn("trade_id", (F.col("id") / symbols).cast("long") + 1)
          .withColumn("price_", price).withColumn("qty_", qty))
    return df.select(
        "symbol", "trade_id", F.col("price_").cast("decimal(38,18)").alias("price"),
        F.col("qty_").cast("decimal(38,18)").alias("quantity"),
        (F.col("price_") * F.col("qty_")).cast("decimal(38,18)").alias("quote_quantity"),
        t.alias("trade_time_ms"), (t + 5).alias("event_time_ms"), (F.abs(F.hash("id", F.lit(2))) % 2 == 0).alias("is_buyer_maker"),
        F.lit("bench").alias("source"), (t + 20).alias("ingest_time_ms"), F.lit("bench").alias("kafka_topic"),
        F.lit(0).alias("kafka_partition"), F.col("id").alias("kafka_offset"), F.lit(1.0).alias("quality_score"),
        F.date_format(F.timestamp_millis(t), "yyyy-MM-dd").alias("dt"))


BRONZE_OPTS = {"hoodie.table.name": "bronze_trades", "hoodie.datasource.write.recordkey.field": "symbol,trade_id",
               "hoodie.datasource.write.partitionpath.field": "symbol,dt",
               "hoodie.datasource.write.precombine.field": "trade_time_ms",
               "hoodie.datasource.write.keygenerator.class": "org.apache.hudi.keygen.ComplexKeyGenerator",
               "hoodie.datasource.write.table.type": "COPY_ON_WRITE", "hoodie.bulkinsert.shuffle.parallelism": "2",
               "hoodie.upsert.shuffle.parallelism": "2", "hoodie.insert.shuffle.parallelism": "2"}

DUCK_SQL = """
WITH t AS (SELECT * FROM read_parquet('{path}')),
iv(name, size) AS (VALUES ('1m', 60000), ('5m', 300000), ('15m', 900000), ('1h', 3600000), ('4h', 14400000), ('1d', 86400000))
SELECT symbol, name AS interval, trade_time_ms - trade_time_ms % size AS open_time_ms,
       arg_min(price, (trade_time_ms, trade_id)) AS open, max(price) AS high, min(price) AS low,
       arg_max(price, (trade_time_ms, trade_id)) AS close, sum(quantity) AS volume, sum(quote_quantity) AS quote_volume,
       sum(CASE WHEN NOT is_buyer_maker THEN quantity ELSE 0 END) AS tb_base,
       sum(CASE WHEN NOT is_buyer_maker THEN quote_quantity ELSE 0 END) AS tb_quote,
       count(*) AS n, min(trade_id) AS first_id, max(trade_id) AS last_id
FROM t CROSS JOIN iv GROUP BY ALL
"""


def timed(fn, *args):
    """(result, seconds) of one call."""
    t = time.monotonic()
    return fn(*args), time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trades", type=int, default=10_000_000)
    ap.add_argument("--symbols", type=int, default=5)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--driver-memory", default="4g")
    args = ap.parse_args()

    import duckdb
    from crypto_pipeline.silver.indicators_job import update_indicators
    from crypto_pipeline.silver.ohlcv_job import update_ohlcv
    from lake_session import spark_on_minio

    out: dict = {"trades": args.trades, "symbols": args.symbols, "days": args.days}
    with spark_on_minio("bench-silver", args.driver_memory) as (spark, bucket):
        lake = f"s3a://{bucket}/bench-silver"
        bronze, silver = f"{lake}/bronze/trades", f"{lake}/silver/ohlcv"
        ind, state = f"{lake}/silver/indicators", f"{lake}/silver/indicator_state"
        tmp = Path(tempfile.mkdtemp(prefix="bench-silver-"))
        trades = synth_trades(spark, args.trades, args.symbols, args.days * DAY)
        t = time.monotonic()
        trades.write.mode("overwrite").parquet(str(tmp / "trades.parquet"))
        out["setup_parquet_s"] = time.monotonic() - t
        t = time.monotonic()
        spark.read.parquet(str(tmp / "trades.parquet")).write.format("hudi").options(**BRONZE_OPTS) \
            .option("hoodie.datasource.write.operation", "bulk_insert").mode("overwrite").save(bronze)
        out["setup_bronze_hudi_s"] = time.monotonic() - t

        # DuckDB: same non-empty OHLCV, all six intervals directly from the Parquet trades
        t = time.monotonic()
        con = duckdb.connect()
        n_duck = con.execute(f"SELECT count(*) FROM ({DUCK_SQL.format(path=tmp / 'trades.parquet/*.parquet')})").fetchone()[0]
        out["duckdb_ohlcv_s"] = time.monotonic() - t
        out["duckdb_candles"] = n_duck

        # Spark, same computation from the same Parquet, no Hudi (isolates compute from lakehouse I/O)
        from crypto_pipeline.silver.candles import all_intervals, minute_candles
        t = time.monotonic()
        n_sp = all_intervals(minute_candles(spark.read.parquet(str(tmp / "trades.parquet")))).count()
        out["spark_ohlcv_parquet_s"] = time.monotonic() - t
        out["spark_candles"] = n_sp

        # full silver build from bronze Hudi: OHLCV (all intervals, gap fill, outlier rule) + indicators
        r1, out["silver_ohlcv_full_s"] = timed(update_ohlcv, spark, bronze, silver)
        out["silver_ohlcv_full_steps_s"] = r1.seconds
        r2, out["silver_indicators_full_s"] = timed(update_indicators, spark, silver, ind, state)
        out["silver_indicators_full_steps_s"] = r2.seconds
        out["full_build_s"] = out["silver_ohlcv_full_s"] + out["silver_indicators_full_s"]
        out["ratio_full_build_vs_duckdb"] = out["full_build_s"] / out["duckdb_ohlcv_s"]
        out["ratio_spark_parquet_vs_duckdb"] = out["spark_ohlcv_parquet_s"] / out["duckdb_ohlcv_s"]

        # incremental: one more minute of trades for every symbol (same rate), then both assets
        per_min = max(1, args.trades * 60_000 // (args.days * DAY))
        end = T0 + args.days * DAY
        more = synth_trades(spark, per_min, args.symbols, 60_000, t_start=end, id_offset=args.trades)
        more.write.format("hudi").options(**BRONZE_OPTS).option("hoodie.datasource.write.operation", "upsert") \
            .mode("append").save(bronze)
        r3, out["incr_ohlcv_s"] = timed(update_ohlcv, spark, bronze, silver)
        out["incr_ohlcv_steps_s"] = r3.seconds
        out["incr_trades"] = r3.trades_read
        out["incr_candles_written"] = r3.candles_written
        r4, out["incr_indicators_s"] = timed(update_indicators, spark, silver, ind, state)
        out["incr_indicators_series_carried"] = r4.series_carried
        out["incremental_total_s"] = out["incr_ohlcv_s"] + out["incr_indicators_s"]
        print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
