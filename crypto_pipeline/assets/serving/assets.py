"""serving_candles and serving_gold_*: each run syncs what its Hudi upstream committed since the completion
time recorded in `sync_state` (serving/lakehouse.py), in one PostgreSQL transaction per table.

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


@asset(
    name="serving_candles", group_name=GROUP, pool=POOL,
    deps=[AssetKey("silver_ohlcv"), AssetKey("silver_indicators")],
    automation_condition=AutomationCondition.eager(),
    # runs as soon as silver_indicators is done, before gold and the klines check of the same run: the
    # candles reach readers first (serving lag is measured from the silver commit)
    op_tags={STEP_PRIORITY: "10"},
    description="PostgreSQL `candles`: silver OHLCV joined with its indicators and the source of its trades, "
                "synced incrementally from the Hudi commits (COPY + upsert in one transaction, NOTIFY serving_sync).",
    metadata={"table": "serving.public.candles", "primary_key": "symbol, interval, open_time_ms"},
)
def serving_candles(context: AssetExecutionContext, spark: PySparkResource, s3: S3Resource,
                    serving_db: ServingDatabase) -> MaterializeResult:
    with serving_db.connect() as conn:
        res = sync_candles(spark.spark_session, conn, *silver_paths(s3.bucket))
    context.log.info("serving_candles: %s", res)
    return _result(res, "silver/ohlcv + silver/indicators")


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


SERVING_ASSETS = [serving_candles, *[_gold_asset(t) for t in GOLD_TABLES]]
