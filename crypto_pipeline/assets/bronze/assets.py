"""The bronze Dagster assets: one multi-asset step writes every bronze table (Kafka is read once per run)
and reports rows, offset ranges, latency and the data-quality checks."""

import time

from dagster import (AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, AssetKey,
                     AssetObservation, AssetSpec, Config, Failure, MaterializeResult, MetadataValue, multi_asset)
from dagster_pyspark import PySparkResource
from pydantic import Field

from crypto_pipeline.assets.bronze import checks
from crypto_pipeline.assets.bronze.job import RunResult, lost_range_record, run_bronze
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, KLINES, TRADES, bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from crypto_pipeline.resources.s3 import S3Resource

FRESHNESS_MAX_LAG_MS = 15 * 60 * 1000
LOST_LOG_PREFIX = "bronze/_ingest_log/lost_offsets"

KEY_CHECKED = ("trades", "klines", "agg_trades", "book_ticker")


def _check_specs() -> list[AssetCheckSpec]:
    specs = [AssetCheckSpec("schema_matches_contract", asset=t.asset_name,
                            description="stored columns and types equal crypto_pipeline/lakehouse/tables.py")
             for t in BRONZE_TABLES.values()]
    specs += [AssetCheckSpec("record_key_unique", asset=BRONZE_TABLES[n].asset_name,
                             description="no record key twice in the partitions this run wrote") for n in KEY_CHECKED]
    specs += [AssetCheckSpec("trade_id_continuity", asset=TRADES.asset_name,
                             description="trade ids dense per symbol in the partitions written; gaps listed as ranges"),
              AssetCheckSpec("freshness", asset=TRADES.asset_name,
                             description=f"newest trade younger than {FRESHNESS_MAX_LAG_MS // 60000} min at commit")]
    return specs


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
    description="Kafka crypto_raw_* (by pattern) -> bronze Hudi tables, exactly once (offsets in the Hudi commits).",
    pool="bronze_writer",  # one writer per table at a time: this run waits while bronze_stream_job runs
)
def bronze_ingest(context: AssetExecutionContext, config: BronzeConfig, spark: PySparkResource, s3: S3Resource,
                  kafka: KafkaResource):
    session = spark.spark_session
    watermarks = kafka.end_offsets()
    try:
        res = run_bronze(session, s3.bucket, kafka.bootstrap_servers, kafka.topic_pattern, watermarks,
                         max_per_partition=config.max_offsets_per_partition, accept_data_loss=config.accept_data_loss,
                         run_id=context.run.run_id, write_threads=config.write_threads)
    except off.RetentionLossError as e:
        record_loss(context, s3, e.lost)
        raise Failure(description=str(e), metadata={"lost_ranges": MetadataValue.json(e.lost),
                                                    "lost_messages": sum(r["to"] - r["from"] for r in e.lost)}) from e
    if res.plan.lost:
        record_loss(context, s3, res.plan.lost)
    yield from _materializations(res)
    yield from _checks(session, s3.bucket, res)
    res.release()


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
    for name, table in BRONZE_TABLES.items():
        stored = session.read.format("hudi").load(bronze_path(bucket, name)) if _has_table(session, bucket, name) else None
        if stored is None:
            yield AssetCheckResult(asset_key=table.asset_name, check_name="schema_matches_contract", passed=True,
                                   metadata={"note": "table not created yet"})
            continue
        diff = checks.schema_diff(stored.schema, table)
        yield AssetCheckResult(asset_key=table.asset_name, check_name="schema_matches_contract",
                               passed=not diff["missing"] and not diff["wrong_type"], metadata={k: MetadataValue.json(v) for k, v in diff.items()})
        batch = res.tables[name].batch
        if name in KEY_CHECKED:
            n_dup, sample = (0, []) if batch is None or not res.tables[name].rows else checks.duplicate_keys(
                checks.touched(stored, batch, table.partition), table.record_key)
            yield AssetCheckResult(asset_key=table.asset_name, check_name="record_key_unique", passed=n_dup == 0,
                                   metadata={"duplicate_keys": n_dup, "sample": MetadataValue.json(sample)})
        if name == TRADES.name:
            gaps = [] if not res.tables[name].rows else checks.trade_id_gaps(checks.touched(stored, batch, table.partition))
            yield AssetCheckResult(asset_key=table.asset_name, check_name="trade_id_continuity", passed=not gaps,
                                   severity=AssetCheckSeverity.WARN,
                                   metadata={"gap_count": len(gaps), "missing_trade_ids": sum(g["missing"] for g in gaps),
                                             "gaps": checks.format_ranges(gaps)})
            newest = res.tables[name].max_event_ms
            lag = None if newest is None else res.committed_ms - newest
            yield AssetCheckResult(asset_key=table.asset_name, check_name="freshness", severity=AssetCheckSeverity.WARN,
                                   passed=lag is not None and lag <= FRESHNESS_MAX_LAG_MS,
                                   metadata={"lag_ms": lag if lag is not None else -1})


def _has_table(session, bucket: str, name: str) -> bool:
    from crypto_pipeline.lakehouse.hudi import table_exists

    return table_exists(session, bronze_path(bucket, name))


__all__ = ["bronze_ingest", "BronzeConfig", "KLINES"]
