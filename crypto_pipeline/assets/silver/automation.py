"""Silver follows bronze in the deploy stack.

* ``AutomationCondition.eager()`` on the assets (the default trigger) - silver_ohlcv runs when
  bronze_trades is materialised (by bronze_ingest, or by bronze_stream_job, which reports a
  materialisation per minute), silver_indicators when silver_ohlcv is; never while one is in progress.
* this sensor (default STOPPED) - for bronze written by a Spark job outside Dagster: it watches the bronze
  trades Hudi timeline on S3 (a cheap object listing, no Spark) and requests a silver run when a newer
  completed commit appears. Turned on next to eager automation it would only add no-op runs."""

import re

from dagster import (AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus, RunRequest,
                     SensorEvaluationContext, SkipReason, sensor)

from crypto_pipeline.assets.silver.indicators import silver_indicators
from crypto_pipeline.assets.silver.ohlcv import silver_ohlcv
from crypto_pipeline.resources.s3 import S3Resource

# Dagster's implicit default_automation_condition_sensor starts STOPPED; this one is on from the first deploy.
# It also evaluates the serving group: assets requested in one tick share one run, so silver_ohlcv ->
# silver_indicators -> serving_candles run back to back in one process and Spark session (a separate
# sensor meant a second run, a second JVM start and a sensor hop: serving lag beyond a minute).
silver_automation = AutomationConditionSensorDefinition(
    "silver_automation", target=AssetSelection.groups("silver", "serving"), default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30, description="Evaluates the silver and serving assets' automation conditions every 30 s.")

_COMPLETED = re.compile(r"^(\d+)_(\d+)\.(commit|deltacommit|replacecommit)$")


def latest_completed(names: list[str]) -> "str | None":
    """Newest completion time among Hudi 1.x timeline file names (``<requested>_<completed>.<action>``)."""
    times = [m.group(2) for n in names if (m := _COMPLETED.match(n.rsplit("/", 1)[-1]))]
    return max(times) if times else None


@sensor(asset_selection=[silver_ohlcv, silver_indicators], minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Requests silver_ohlcv + silver_indicators when bronze trades has a new completed Hudi commit.")
def silver_follows_bronze_commits(context: SensorEvaluationContext, s3: S3Resource):
    prefix = "bronze/trades/.hoodie/timeline/"
    names = [o.object_name for o in s3.client().list_objects(s3.bucket, prefix=prefix)]
    latest = latest_completed(names)
    if latest is None:
        return SkipReason("no completed bronze trades commit yet")
    if context.cursor and latest <= context.cursor:
        return SkipReason(f"bronze trades unchanged since {context.cursor}")
    context.update_cursor(latest)
    return RunRequest(run_key=f"bronze-trades-{latest}")
