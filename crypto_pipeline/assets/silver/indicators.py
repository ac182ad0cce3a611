"""silver_indicators: TA-Lib-exact SMA/EMA/RSI/MACD/BBANDS per symbol and interval on final candles."""

from dagster import AssetExecutionContext, AutomationCondition, MaterializeResult, MetadataValue, asset
from dagster_pyspark import PySparkResource

from crypto_pipeline.assets.silver.ohlcv import silver_ohlcv
from crypto_pipeline.resources.s3 import S3Resource
from crypto_pipeline.silver.indicators_job import update_indicators
from crypto_pipeline.silver.tables import INDICATOR_STATE, INDICATORS, OHLCV, silver_path


@asset(
    deps=[silver_ohlcv],
    automation_condition=AutomationCondition.eager(),
    pool="silver_writer",
    description="SMA(20,50,200), EMA(12,26,50), RSI(14), MACD(12,26,9), BBANDS(20,2,2) exactly as TA-Lib computes "
                "them, over each (symbol, interval) series of final candles from its first candle. Incremental: "
                "carries the loop state, or recomputes from the origin when a late trade restated history.",
    metadata={"table": "silver/indicators", "state_table": "silver/indicator_state"},
)
def silver_indicators(context: AssetExecutionContext, spark: PySparkResource, s3: S3Resource) -> MaterializeResult:
    session = spark.spark_session
    res = update_indicators(session, silver_path(s3.bucket, OHLCV), silver_path(s3.bucket, INDICATORS),
                            silver_path(s3.bucket, INDICATOR_STATE))
    context.log.info("silver_indicators: %s", res)
    return MaterializeResult(metadata={
        "skipped_no_new_ohlcv_commits": res.skipped,
        "ohlcv_commits": f"({res.ohlcv_begin}, {res.ohlcv_end}]",
        "series_carried": res.series_carried,
        "series_recomputed_from_origin": res.series_recomputed,
        "rows_written": res.rows_written,
        "step_seconds": MetadataValue.json({k: round(v, 2) for k, v in res.seconds.items()}),
    })
