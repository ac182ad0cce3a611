"""serving_candles, serving_candle_indicators and serving_gold_*: each run syncs what its Hudi upstream
committed since the completion time recorded in `sync_state` (serving/lakehouse.py), in one PostgreSQL
transaction per table.

They follow their upstream with `AutomationCondition.eager()` (like silver_indicators follows
silver_ohlcv): requested when an upstream asset is materialised, never while one is in progress. The
`silver_automation` sensor evaluates them (crypto_pipeline/assets/silver/automation.py), so a sync joins
the run of the upstream it follows."""

from dagster import (AssetExecutionContext, AssetKey, AssetsDefinition, AutomationCondition, MaterializeResult,
                     MetadataValue, asset)
from dagster_pyspark import PySparkResource

from crypto_pipeline.assets import STEP_PRIORITY
from crypto_pipeline.resources.s3 import S3Resource
from crypto_pipeline.resources.serving import ServingDatabase
from serving.lakehouse import GOLD_TABLES, GoldTable, gold_lake_path, silver_paths, sync_candles, sync_gold_table
from serving.upsert import SyncResult

GROUP = "serving"
POOL = "serving_writer"  # one sync run at a time: a checkpoint never moves backwards under a concurrent sync
#: gold asset each table follows (portfolio positions are written by the portfolio asset)
GOLD_UPSTREAM = {"portfolio_positions": "gold_portfolio"}


def _result(res: "SyncResult | None", upstream: str) -> MaterializeResult:
    if res is None:
        return MaterializeResult(metadata={"skipped_no_new_commits": True, "upstream": upstream})
    return MaterializeResult(metadata={
        "skipped_no_new_commits": False, "upstream": upstream, "upstream_commit": res.commit or "",
        "rows_staged": res.staged, "rows_upserted": res.upserted, "rows_deleted": res.deleted,
        "symbols": MetadataValue.json(res.symbols[:50]),
    })


def _candles_asset(name: str, upstream: str, description: str) -> AssetsDefinition:
    """One sync of `candles` per silver table: the ohlcv columns reach readers right after silver_ohlcv
    commits, without waiting for silver_indicators; the indicator columns follow its commit. Both run
    sync_candles (whatever either table committed since `sync_state`), one at a time (the pool)."""

    @asset(
        name=name, group_name=GROUP, pool=POOL, deps=[AssetKey(upstream)],
        automation_condition=AutomationCondition.eager(),
        # before gold and the klines check of the same run: serving lag is measured from the silver commit
        op_tags={STEP_PRIORITY: "10"},
        description=description,
        metadata={"table": "serving.public.candles", "primary_key": "symbol, interval, open_time_ms"},
    )
    def _sync(context: AssetExecutionContext, spark: PySparkResource, s3: S3Resource,
              serving_db: ServingDatabase) -> MaterializeResult:
        with serving_db.connect() as conn:
            res = sync_candles(spark.spark_session, conn, *silver_paths(s3.bucket))
        context.log.info("%s: %s", name, res)
        return _result(res, "silver/ohlcv + silver/indicators")

    return _sync


serving_candles = _candles_asset(
    "serving_candles", "silver_ohlcv",
    "PostgreSQL `candles`: silver OHLCV (with the source of its trades) and the indicators known so far, synced "
    "incrementally from the Hudi commits right after silver_ohlcv (COPY + upsert in one transaction, NOTIFY "
    "serving_sync).")
serving_candle_indicators = _candles_asset(
    "serving_candle_indicators", "silver_indicators",
    "The indicator columns of PostgreSQL `candles`, synced after silver_indicators commits (the same "
    "incremental sync as serving_candles; the candles it re-reads are those whose indicators changed).")


def _gold_asset(table: GoldTable) -> AssetsDefinition:
    upstream = GOLD_UPSTREAM.get(table.lake, table.serving)

    @asset(
        name=f"serving_{table.serving}", group_name=GROUP, pool=POOL, deps=[AssetKey(upstream)],
        automation_condition=AutomationCondition.eager(),
        description=f"PostgreSQL `{table.serving}` mirrored from gold/{table.lake} (incremental, one transaction"
                    + (", rows the gold restatement deleted are deleted" if table.sparse else "") + ").",
        metadata={"table": f"serving.public.{table.serving}", "lakehouse_table": f"gold/{table.lake}"},
    )
    def _sync(context: AssetExecutionContext, spark: PySparkResource, s3: S3Resource,
              serving_db: ServingDatabase) -> MaterializeResult:
        with serving_db.connect() as conn:
            res = sync_gold_table(spark.spark_session, conn, gold_lake_path(s3.bucket, table.lake), table)
        context.log.info("serving_%s: %s", table.serving, res)
        return _result(res, f"gold/{table.lake}")

    return _sync


SERVING_ASSETS = [serving_candles, serving_candle_indicators, *[_gold_asset(t) for t in GOLD_TABLES]]
