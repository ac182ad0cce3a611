"""The bronze Dagster assets: one multi-asset step writes every bronze table (Kafka is read once per run)
and reports rows, offset ranges, latency and the data-quality checks."""

import time

from dagster import (AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, AssetKey,
                     AssetObservation, AssetSpec, Config, Failure, MaterializeResult, MetadataValue, multi_asset)
from dagster_pyspark import PySparkResource
from pydantic import Field

from crypto_pipeline.bronze import checks
from crypto_pipeline.bronze.job import RunResult, lost_range_record, run_bronze
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.clustering import cluster_table
from crypto_pipeline.lakehouse.hudi import SEPARATELY_CLUSTERED, table_exists
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, TRADES, bronze_path
from crypto_pipeline.lakehouse.writer_lock import TableLocks, clustering_lock
from crypto_pipeline.resources.kafka import KafkaResource
from crypto_pipeline.resources.locks import BronzeLocksResource
from crypto_pipeline.resources.s3 import S3Resource

LOST_LOG_PREFIX = "bronze/_ingest_log/lost_offsets"


def _check_specs() -> list[AssetCheckSpec]:
    return [AssetCheckSpec(check, asset=asset, description=desc) for asset, check, desc in checks.specs()]


class BronzeConfig(Config):
    max_offsets_per_partition: int = Field(default=2_000_000, description="cap per topic-partition per run (bounds run time)")
    accept_data_loss: bool = Field(default=False, description="acknowledge offsets lost to retention and continue")
    write_threads: int = Field(default=3, description="tables written concurrently (Hudi commits are per table)")


@multi_asset(
    name="bronze_ingest",
    specs=[AssetSpec(t.asset_name, group_name="bronze", kinds={"hudi", "spark"},
                     description=f"bronze/{t.name}: key {', '.join(t.record_key)}; partitions {'/'.join(t.partition)}",
                     metadata={"record_key": ", ".join(t.record_key), "partition": "/".join(t.partition)})
           for t in BRONZE_TABLES.values()],
    check_specs=_check_specs(),
    description="Kafka crypto_raw_* (by pattern) -> bronze Hudi tables, exactly once (offsets in the Hudi commits). "
                "Safe beside the bronze-writer service: each table's writer lock is held from plan to commit.",
)
def bronze_ingest(context: AssetExecutionContext, config: BronzeConfig, spark: PySparkResource, s3: S3Resource,
                  kafka: KafkaResource, bronze_locks: BronzeLocksResource):
    session = spark.spark_session
    locks = bronze_locks.locks(s3.bucket, application=f"bronze_ingest {context.run.run_id[:8]}")
    try:
        res = run_bronze(session, s3.bucket, kafka.connection(), kafka.topic_pattern, kafka.end_offsets,
                         max_per_partition=config.max_offsets_per_partition, accept_data_loss=config.accept_data_loss,
                         run_id=context.run.run_id, write_threads=config.write_threads,
                         async_clustering=SEPARATELY_CLUSTERED, locks=locks)
    except off.RetentionLossError as e:
        record_loss(context, s3, e.lost)
        raise Failure(description=str(e), metadata={"lost_ranges": MetadataValue.json(e.lost),
                                                    "lost_messages": sum(r["to"] - r["from"] for r in e.lost)}) from e
    if res.plan.lost:
        record_loss(context, s3, res.plan.lost)
    yield from _materializations(res)
    yield from _checks(session, s3.bucket, res)
    res.release()
    _cluster(context, session, s3.bucket, locks)


def _cluster(context, session, bucket: str, locks: TableLocks) -> None:
    """Merge the small files of the tables clustered apart from their writes, unless the bronze-writer
    service is clustering them right now (then it does the job)."""
    for name in SEPARATELY_CLUSTERED:
        path = bronze_path(bucket, name)
        with locks.hold([clustering_lock(name)], wait=False) as got:
            if got and table_exists(session, path):
                res = cluster_table(session, BRONZE_TABLES[name], path)
                context.log.info(f"bronze {name}: clustered {res.groups} group(s) in {res.seconds:.1f}s")


def record_loss(context, s3: S3Resource, lost: list[dict]) -> None:
    """Lost ranges go to the run log, an observation on every bronze asset and an object in the bucket."""
    import io

    run_id = context.run.run_id
    body = lost_range_record(lost, run_id)
    name = f"{LOST_LOG_PREFIX}/{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{run_id[:8]}.json"
    try:
        s3.client().put_object(s3.bucket, name, io.BytesIO(body), len(body), content_type="application/json")
    except Exception as exc:  # the run fails anyway; never hide the loss behind a storage error
        context.log.error("could not store lost-offset record %s: %s", name, exc)
    context.log.error("Kafka offsets lost before bronze read them: %s (record s3://%s/%s)", lost, s3.bucket, name)
    for t in BRONZE_TABLES.values():
        context.log_event(AssetObservation(asset_key=AssetKey(t.asset_name), metadata={
            "lost_offset_ranges": MetadataValue.json(lost), "lost_record": f"s3://{s3.bucket}/{name}"}))


def _materializations(res: RunResult):
    ranges = "| topic | partition | from | to |\n|---|---|---|---|\n" + "".join(
        f"| {t} | {p} | {a} | {b} |\n" for t, p, a, b in res.plan.ranges())
    for name, t in res.tables.items():
        meta = {"rows_written": t.rows, "kafka_messages_read": res.read, "offset_ranges": MetadataValue.md(ranges),
                "run_seconds": round(res.seconds, 2), "path": bronze_path("<bucket>", name)}
        if t.min_event_ms is not None:
            meta["e2e_latency_max_ms"] = res.committed_ms - t.min_event_ms  # oldest event in the batch -> commit
            meta["e2e_latency_min_ms"] = res.committed_ms - t.max_event_ms  # newest event -> commit (freshness)
        if t.max_ingest_ms is not None:
            meta["ingest_to_commit_ms"] = res.committed_ms - t.max_ingest_ms
        if t.write_s:   # written in this run (an idle table with an unchanged checkpoint is not)
            meta["write_operation"] = "insert" if t.inserted else "upsert"   # insert: no index lookup was needed
            meta["write_seconds"] = round(t.write_s, 2)
        if t.reasons:
            meta["quarantine_reasons"] = MetadataValue.json(t.reasons)
        if BRONZE_TABLES[name].dense_id:
            meta["duplicates_dropped"] = t.duplicates_dropped   # ids the table already held (replay, overlap)
        yield MaterializeResult(asset_key=BRONZE_TABLES[name].asset_name, metadata=meta)


def _checks(session, bucket: str, res: RunResult):
    written = {}
    for name, t in res.tables.items():
        w = written[name] = checks.Written()
        lag = res.committed_ms - t.max_event_ms if name == TRADES.name and t.max_event_ms is not None else None
        w.add(t.rows, t.partitions, BRONZE_TABLES[name].partition, lag)
    for o in checks.evaluate(session, bucket, written):
        yield AssetCheckResult(asset_key=o.asset, check_name=o.check, passed=o.passed,
                               severity=AssetCheckSeverity[o.severity],
                               metadata={k: MetadataValue.json(v) if isinstance(v, (list, dict)) else v
                                         for k, v in o.metadata.items()})


__all__ = ["bronze_ingest", "BronzeConfig"]
