"""silver_ohlcv: Binance-exact candles at 1m/5m/15m/1h/4h/1d from bronze trades, incrementally."""

import os
from typing import Optional

from dagster import (AssetExecutionContext, AssetKey, AutomationCondition, Config, MaterializeResult, MetadataValue,
                     asset)
from dagster_pyspark import PySparkResource
from pydantic import Field

from crypto_pipeline.resources.s3 import S3Resource
from crypto_pipeline.silver.ohlcv_job import update_ohlcv
from crypto_pipeline.silver.quality import OutlierRule
from crypto_pipeline.silver.tables import OHLCV, bronze_table_path, silver_path

BRONZE_TRADES = AssetKey("bronze_trades")
BRONZE_KLINES = AssetKey("bronze_klines")


class OhlcvConfig(Config):
    max_deviation: float = Field(0.10, description="price outlier: |p/median(minute) - 1| above this is excluded")
    min_trades: int = Field(3, description="the outlier test needs at least this many valid trades in the minute")
    min_quality_score: Optional[float] = Field(None, description="exclude trades whose bronze quality_score is below")


# Bronze trades commit every few seconds; silver follows on a cadence instead of after every bronze
# report, so a 2-core host is not running silver back to back (each run is a Spark JVM of its own).
SILVER_CRON = os.environ.get("SILVER_SCHEDULE_CRON", "*/5 * * * *")
# ... and once as soon as bronze has trades and silver has never been built: a fresh deploy shows candles,
# gold and serving (and their checks) within minutes instead of at the first cron tick after it.
# (on_missing() would not: it only fires for partitions added after the condition was first evaluated)
FIRST_BUILD = (AutomationCondition.missing() & ~AutomationCondition.any_deps_missing()).newly_true()
SILVER_AUTOMATION = ((AutomationCondition.on_cron(SILVER_CRON) | FIRST_BUILD.with_label("first_build"))
                     & ~AutomationCondition.in_progress())


@asset(
    deps=[BRONZE_TRADES],
    automation_condition=SILVER_AUTOMATION,
    pool="silver_writer",  # one silver run at a time (Hudi tables with one writer each)
    description="OHLCV candles (1m 5m 15m 1h 4h 1d) with Binance kline semantics from bronze trades: exact "
                "decimals, flat empty candles, is_final once the trade watermark passes close_time. Each run "
                "reads only new bronze commits (Hudi incremental) and restates exactly the candles they touch.",
    metadata={"table": "silver/ohlcv", "record_key": "symbol, interval, open_time_ms",
              "partition": "symbol, interval, period"},
)
def silver_ohlcv(context: AssetExecutionContext, config: OhlcvConfig, spark: PySparkResource,
                 s3: S3Resource) -> MaterializeResult:
    rule = OutlierRule(config.max_deviation, config.min_trades, config.min_quality_score)
    session = spark.spark_session
    res = update_ohlcv(session, bronze_table_path(s3.bucket, "trades"), silver_path(s3.bucket, OHLCV), rule)
    context.log.info("silver_ohlcv: %s", res)
    excluded = sum(res.excluded.values())
    return MaterializeResult(metadata={
        "skipped_no_new_bronze_commits": res.skipped,
        "bronze_commits": f"({res.bronze_begin}, {res.bronze_end}]",
        "trades_read": res.trades_read,
        "trades_recomputed": res.trades_recomputed,
        "trades_excluded": excluded,
        "excluded_ratio": (excluded / res.trades_recomputed) if res.trades_recomputed else 0.0,
        "excluded_by_reason": MetadataValue.json(res.excluded),
        "excluded_sample": MetadataValue.md("\n".join(f"- {s}" for s in res.excluded_sample) or "none"),
        "late_trades": res.late_trades,
        "symbols": len(res.symbols),
        "candles_written": MetadataValue.json(res.candles_written),
        "watermarks_ms": MetadataValue.json(res.watermarks),
        "step_seconds": MetadataValue.json({k: round(v, 2) for k, v in res.seconds.items()}),
    })
