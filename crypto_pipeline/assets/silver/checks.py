"""Asset checks on silver: reconciliation of 1m candles against the exchange's own klines."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check
from dagster_pyspark import PySparkResource

from crypto_pipeline.assets import STEP_PRIORITY
from crypto_pipeline.assets.silver.ohlcv import BRONZE_KLINES, silver_ohlcv
from crypto_pipeline.resources.s3 import S3Resource
from crypto_pipeline.silver import hudi
from crypto_pipeline.silver.reconcile import reconcile_1m
from crypto_pipeline.silver.tables import OHLCV, bronze_table_path, silver_path


# the reconciliation reads all of bronze klines: it runs after the run's gold and serving steps, so it never
# holds back the data readers wait for
@asset_check(asset=silver_ohlcv, additional_deps=[BRONZE_KLINES], blocking=False, op_tags={STEP_PRIORITY: "-10"},
             description="Final silver 1m candles vs closed exchange 1m klines in bronze: OHLC, trade count and ids "
                         "exact, volumes to 8 dp. Fails on any mismatch; lists the first ones.")
def silver_ohlcv_matches_exchange_klines(spark: PySparkResource, s3: S3Resource) -> AssetCheckResult:
    session = spark.spark_session
    klines = bronze_table_path(s3.bucket, "klines")
    if not hudi.table_exists(session, klines):
        return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN,
                                metadata={"note": "no bronze klines table yet; nothing to compare"})
    rec = reconcile_1m(session, silver_path(s3.bucket, OHLCV), klines)
    table = "| symbol | open_time_ms | fields | silver | exchange |\n|---|---|---|---|---|\n" + "".join(
        f"| {m['symbol']} | {m['open_time_ms']} | {m['fields']} | {m['silver']} | {m['exchange']} |\n"
        for m in rec.mismatches)
    return AssetCheckResult(
        passed=rec.mismatched == 0 and rec.exchange_only == 0,
        metadata={"compared": rec.compared, "mismatched": rec.mismatched, "silver_only": rec.silver_only,
                  "silver_only_empty_break_candidates": rec.silver_only_empty, "exchange_only": rec.exchange_only,
                  # a symbol's first minute when ingest started inside it: partial by construction, not compared
                  "partial_first_minutes": rec.partial_at_start,
                  "mismatches": MetadataValue.md(table if rec.mismatches else "none")})
