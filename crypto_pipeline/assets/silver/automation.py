"""Silver follows bronze in the deploy stack.

* the assets' automation conditions (the default trigger) - silver_ohlcv on its cron cadence after
  bronze_trades was materialised (by bronze_ingest, or by the bronze-writer service's runless reports), and
  once as soon as bronze has trades on a fresh deploy; silver_indicators, gold and serving ``eager()`` after
  it; never while one is in progress.
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
# It also evaluates gold and serving: assets requested in one evaluation share one run, so the cron tick launches
# ONE run silver_ohlcv -> silver_indicators -> gold -> serving (one process, one Spark session) instead of a
# sensor, a run and a JVM start per layer (serving lag beyond a minute, twice the CPU).
silver_automation = AutomationConditionSensorDefinition(
    "silver_automation", target=AssetSelection.groups("silver", "gold", "serving"),
    default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
    description="Evaluates the silver, gold and serving assets' automation conditions every 30 s.")

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
