"""The batch alternative to the bronze-writer service: a sensor requests a bronze_ingest run when the Kafka
end offsets moved since the last run it requested, at most every ``MIN_INTERVAL_S``, and never while one is
queued or running.

Off by default: in the deploy stack the bronze-writer service keeps bronze fresh (p95 seconds instead of
minutes). Turn it on (and stop the service) where a resident Spark session is not wanted; both at once is
safe (the writer locks), only wasteful."""

import hashlib
import json
import os

from dagster import (AssetSelection, DagsterRunStatus, DefaultSensorStatus, RunRequest, RunsFilter, SensorEvaluationContext,
                     SkipReason, define_asset_job, sensor)

from crypto_pipeline.lakehouse.tables import BRONZE_TABLES
from crypto_pipeline.resources.kafka import KafkaResource

MIN_INTERVAL_S = int(os.environ.get("BRONZE_SENSOR_INTERVAL_S", "60"))
ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]

bronze_job = define_asset_job("bronze_job", selection=AssetSelection.assets(*[t.asset_name for t in BRONZE_TABLES.values()]),
                              description="Kafka -> all bronze tables (one Spark step)")


@sensor(job=bronze_job, minimum_interval_seconds=MIN_INTERVAL_S, default_status=DefaultSensorStatus.STOPPED,
        description="Runs bronze when new Kafka records arrived (end offsets moved past the last requested run).")
def bronze_new_data_sensor(context: SensorEvaluationContext, kafka: KafkaResource):
    active = context.instance.get_runs(filters=RunsFilter(job_name=bronze_job.name, statuses=ACTIVE), limit=1)
    if active:
        return SkipReason(f"{bronze_job.name} run {active[0].run_id} still in progress")
    ends = {t: {str(p): hi for p, (_lo, hi) in parts.items()} for t, parts in kafka.end_offsets().items()}
    previous = json.loads(context.cursor) if context.cursor else {}
    if ends == previous:
        return SkipReason("no new Kafka records since the last bronze run")
    moved = sum(hi - previous.get(t, {}).get(p, 0) for t, ps in ends.items() for p, hi in ps.items())
    context.update_cursor(json.dumps(ends, sort_keys=True))
    key = hashlib.sha1(json.dumps(ends, sort_keys=True).encode()).hexdigest()[:16]
    return RunRequest(run_key=f"bronze-{key}", tags={"bronze/new_messages": str(moved)})
