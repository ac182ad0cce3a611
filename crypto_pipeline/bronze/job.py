"""One bronze run: read every ``crypto_raw_*`` topic once (batch), split by event type, write each Hudi
table with its Kafka checkpoint in the same commit.

Why a batch read per run instead of a streaming query: the offsets to read are decided up front from
the tables' own commits, the read is bounded and repeatable, a failed run is simply rerun, and the Hudi
streaming sink (which calls System.exit on a failed batch) and Spark's rename-based checkpoint on S3A
are never involved."""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import reduce
from typing import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crypto_pipeline.bronze import dedup, parse
from crypto_pipeline.lakehouse import id_ranges as ids
from crypto_pipeline.lakehouse import key_marks as km
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.hudi import (ID_RANGES_KEY, KEY_MARKS_KEY, append_rows, checkpoint_of, commit_metadata,
                                            hudi_options, read_commit_state)
from crypto_pipeline.lakehouse.java_writer import JavaTableWriter, JavaWriters, Staged
from crypto_pipeline.lakehouse.kafka_batch import DriverKafkaReader, KafkaTarget, Record, read_batch, records_frame
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, QUARANTINE, STREAM_TABLES, TableDef, bronze_path
from crypto_pipeline.lakehouse.writer_lock import TableLocks

log = logging.getLogger(__name__)


@dataclass
class TableResult:
    rows: int = 0
    min_event_ms: int | None = None
    max_event_ms: int | None = None
    max_ingest_ms: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    batch: DataFrame | None = None   # the written rows (cached) for the checks
    duplicates_dropped: int = 0      # dense-id tables: rows whose id the table already held
    write_s: float = 0.0             # the Hudi write and commit (index lookup, files, timeline)
    inserted: bool = False           # written by insert (no index lookup), not upsert
    writer: str = "datasource"       # Spark's Hudi datasource, or Hudi's "java-client" (lakehouse/java_writer.py)
    parser: str = "spark"            # or "jvm": parsed from the raw records by the Java writer's parser
    partitions: list[dict] = field(default_factory=list)   # the partitions (e.g. symbol, dt) the batch wrote


@dataclass
class RunResult:
    plan: off.Plan
    read: int | None      # Kafka records read (None: not counted, a run of Java-written tables only)
    tables: dict[str, TableResult]
    committed_ms: int
    seconds: float
    cached: list[DataFrame] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)   # seconds: plan, read, prepare, write

    def phase_text(self) -> str:
        return " ".join(f"{k} {v:.1f}" for k, v in self.phases.items())

    def release(self) -> None:
        """Drop the run's cached frames (kept until the checks have used them)."""
        _unpersist(self.cached)


def _unpersist(frames: list[DataFrame]) -> None:
    for df in frames:
        df.unpersist()
        logical = df._jdf.queryExecution().logical()
        if logical.nodeName() == "LogicalRDD":   # a local checkpoint (:func:`_materialise`): drop its blocks now
            logical.rdd().unpersist(False)


def _materialise(df: DataFrame) -> DataFrame:
    """``df`` computed once into the block store with its lineage cut (a local checkpoint), not persisted.

    Why: records read in the driver become a DataFrame whose partitions *are* the records, and Spark
    serialises a task's partition into every task of every later job over it, cached or not — ~10 MB per
    task, 17–21 stages a slow cycle (Spark's "task of very large size" warnings), and the humongous objects
    kept the stream JVM's G1 in back-to-back concurrent cycles. After the checkpoint a partition is a block
    id."""
    return df.localCheckpoint(eager=True)


def prepare_session(spark: SparkSession) -> None:
    # Binance payload keys differ only by case (p/P, b/B); parsing must not fold them
    spark.conf.set("spark.sql.caseSensitive", "true")


def plan(spark: SparkSession, bucket: str, watermarks: off.Watermarks, max_per_partition: int | None,
         accept_data_loss: bool, tables: tuple[str, ...] = tuple(BRONZE_TABLES), max_records: int | None = None
         ) -> tuple[off.Plan, dict[str, dict[str, str] | None]]:
    """The run's offsets, and each table's newest commit state (checkpoint, id ranges) they came from."""
    states = {name: read_commit_state(spark, bronze_path(bucket, name)) for name in tables}
    ckpts = {name: off.decode(checkpoint_of(st)) for name, st in states.items()}
    return off.plan_run(watermarks, ckpts, max_per_partition, accept_data_loss, max_records), states


def _summary(df: DataFrame, time_col: str | None, partition: tuple[str, ...]) -> TableResult:
    aggs = [F.count(F.lit(1)).alias("n"), F.max("ingest_time_ms").alias("mi"),
            F.collect_set(F.struct(*partition)).alias("parts")]
    if time_col:
        aggs += [F.min(time_col).alias("lo"), F.max(time_col).alias("hi")]
    r = df.agg(*aggs).collect()[0]
    return TableResult(rows=r["n"], max_ingest_ms=r["mi"], min_event_ms=r["lo"] if time_col else None,
                       max_event_ms=r["hi"] if time_col else None, partitions=[p.asDict() for p in r["parts"]])


def write_table(spark: SparkSession, w: dedup.WritePlan, table: TableDef, path: str, checkpoint: off.Offsets,
                run_id: str | None, parallelism: int, async_clustering: bool = False) -> None:
    """Write the planned rows (upsert, or insert when :func:`dedup.plan_write` ruled out every committed key)
    and commit ``checkpoint`` and the plan's state in the same Hudi commit (an empty batch still commits the
    checkpoint, so an idle table does not hold back the next run's start offsets)."""
    opts = hudi_options(table, off.encode(checkpoint), run_id, parallelism, async_clustering, w.insert, w.state)
    spark.sparkContext.setJobDescription(f"bronze {table.name}")
    append_rows(w.df, opts, path)


def run_bronze(spark: SparkSession, bucket: str, bootstrap: KafkaTarget, pattern: str,
               watermarks: off.Watermarks | Callable[[], off.Watermarks], *,
               max_per_partition: int | None = None, accept_data_loss: bool = False, run_id: str | None = None,
               write_threads: int = 2, parallelism: int = 2, tables: tuple[str, ...] | None = None,
               driver_reader: DriverKafkaReader | None = None, async_clustering: tuple[str, ...] = (),
               locks: TableLocks | None = None, java_writers: JavaWriters | None = None,
               max_records: int | None = None) -> RunResult:
    """Plan, read once, split, write ``tables`` (default: all). Raises RetentionLossError before writing.
    ``max_records`` bounds the Kafka records of the run (the rest is left to the next runs).
    Tables in ``async_clustering`` are clustered by another thread (:mod:`crypto_pipeline.lakehouse.clustering`).
    ``locks``: the tables' writer locks are held from the plan to the last commit, so another process
    writing the same tables plans from this run's commits (:mod:`crypto_pipeline.lakehouse.writer_lock`).
    ``watermarks`` may be a function: it is then read under the locks (a writer that waited for them would
    otherwise plan against Kafka end offsets older than the checkpoints the other writer just committed).

    A subset reads Kafka only from the subset's own checkpoints. With the quarantine in the subset, the
    invalid rows of *every* stream go to it (a table written by another loop still has its bad rows
    quarantined); without it, invalid rows stay behind the quarantine's checkpoint for a later run."""
    names = tuple(BRONZE_TABLES) if tables is None else tuple(n for n in BRONZE_TABLES if n in tables)
    unknown = set(tables or ()) - set(BRONZE_TABLES)
    if unknown:
        raise KeyError(f"unknown bronze tables {sorted(unknown)}; known: {sorted(BRONZE_TABLES)}")
    with (locks.hold(names) if locks is not None else nullcontext()):
        wm = watermarks() if callable(watermarks) else watermarks
        return _run_locked(spark, bucket, bootstrap, pattern, wm, names, max_per_partition, accept_data_loss,
                           run_id, write_threads, parallelism, driver_reader, async_clustering, java_writers,
                           max_records)


def _run_locked(spark: SparkSession, bucket: str, bootstrap: KafkaTarget, pattern: str, watermarks: off.Watermarks,
                names: tuple[str, ...], max_per_partition: int | None, accept_data_loss: bool, run_id: str | None,
                write_threads: int, parallelism: int, driver_reader: DriverKafkaReader | None,
                async_clustering: tuple[str, ...], java_writers: JavaWriters | None,
                max_records: int | None = None) -> RunResult:
    t0 = time.monotonic()
    prepare_session(spark)
    p, states = plan(spark, bucket, watermarks, max_per_partition, accept_data_loss, names, max_records)
    phases = {"plan": time.monotonic() - t0}
    if p.total == 0 and not any(p.changed(n) for n in names):
        return RunResult(p, 0, {n: TableResult() for n in names}, int(time.time() * 1000), time.monotonic() - t0)
    # with nothing new the batch is empty, but some table's checkpoint must move (a table created later);
    # without the quarantine, other streams' records are not even parsed (their tables move on their own)
    keep = parse.key_prefilter(set(names)) if QUARANTINE.name not in names else None
    keep_key = parse.key_keep(set(names)) if keep is not None else None
    records = None
    if java_writers is not None and driver_reader is not None and keep_key is not None and len(names) == 1:
        staged = _stage_records(spark, bucket, p, states, names[0], driver_reader, keep_key, java_writers)
        if isinstance(staged, JvmBatch):   # parsed and staged in the JVM: no Spark query at all
            t = BRONZE_TABLES[names[0]]
            phases["read"] = staged.read_s
            phases["prepare"] = time.monotonic() - t0 - sum(phases.values())
            return _write(spark, bucket, p, [(t, staged.plan)], {t.name: staged.writer}, java_writers,
                          {t.name: staged.result}, [], run_id, write_threads, parallelism, async_clustering, t0,
                          phases, None)
        records = staged
    kafka = (records_frame(spark, records) if records is not None
             else read_batch(spark, bootstrap, pattern, p, driver_reader, keep_key))
    if keep is not None:
        kafka = kafka.where(keep)
    # Only Java-written tables (the fast loop): their rows are collected once, by the writer, so the batch is
    # neither checkpointed nor cached nor counted (each of those is a Spark job of its own)
    direct = java_writers is not None and QUARANTINE.name not in names and all(
        java_writers.get(BRONZE_TABLES[n], bronze_path(bucket, n)) for n in names)
    env = parse.envelopes(kafka)
    n_read = None
    if not direct:
        env = _materialise(env)
        n_read = env.count()
    phases["read"] = time.monotonic() - t0 - sum(phases.values())

    # Each table's payload is parsed once into a cached frame; its valid rows (past the table's own
    # checkpoint) are written, its invalid rows (past the quarantine's checkpoint) join the quarantine.
    q_cond = parse.offset_filter(p.table_from[QUARANTINE.name], p.start) if QUARANTINE.name in names else None
    jobs: list[tuple[TableDef, dedup.WritePlan]] = []
    java_jobs: dict[str, JavaTableWriter] = {}
    cached: list[DataFrame] = [] if direct else [env]
    results: dict[str, TableResult] = {}
    bad_parts: list[DataFrame] = []
    with_quarantine = QUARANTINE.name in names
    for t in STREAM_TABLES.values():
        if t.name not in names and not with_quarantine:
            continue
        rows = parse.stream_rows(env, t)
        if not direct:
            rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
            cached.append(rows)
        if t.name in names:
            cond = parse.offset_filter(p.table_from[t.name], p.start)
            good = parse.valid(rows if cond is None else rows.where(cond), t)
            java = java_writers.get(t, bronze_path(bucket, t.name)) if java_writers is not None else None
            staged = _stage_java(spark, java, t, good, states[t.name]) if java is not None else None
            if staged is not None:
                results[t.name], w = staged
                java_jobs[t.name] = java
            else:
                if java is not None:   # its batch goes to the datasource: the next cycle opens a fresh client
                    java_writers.discard(t.name)
                w = dedup.plan_write(spark, bronze_path(bucket, t.name), t, good, states[t.name])
                results[t.name] = _summary(w.df, t.time_column, t.partition)
                results[t.name].batch = w.df
                results[t.name].duplicates_dropped = w.dropped
            jobs.append((t, w))
        if with_quarantine:  # every stream's invalid rows, whether or not its table is written in this run
            bad = rows.where(F.col("_reason").isNotNull())
            bad_parts.append(parse.quarantine_shape(bad if q_cond is None else bad.where(q_cond),
                                                    F.concat(F.lit(f"{t.name}:"), F.col("_reason"))))
    if QUARANTINE.name in names:
        env_bad = env.where(F.col("env_reason").isNotNull())
        bad_parts.append(parse.quarantine_shape(env_bad if q_cond is None else env_bad.where(q_cond), F.col("env_reason")))
        quarantine = reduce(DataFrame.unionByName, bad_parts).coalesce(2).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(quarantine)
        qres = _summary(quarantine, None, QUARANTINE.partition)
        qres.reasons = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()} if qres.rows else {}
        qres.batch = quarantine
        results[QUARANTINE.name] = qres
        jobs.append((QUARANTINE, dedup.plan_write(spark, bronze_path(bucket, QUARANTINE.name), QUARANTINE, quarantine,
                                                  states[QUARANTINE.name])))

    phases["prepare"] = time.monotonic() - t0 - sum(phases.values())   # parse, dedup checks, summaries
    return _write(spark, bucket, p, jobs, java_jobs, java_writers, results, cached, run_id, write_threads,
                  parallelism, async_clustering, t0, phases, n_read)


@dataclass
class JvmBatch:
    """A cycle's one table parsed from the raw records and staged in its Java writer."""

    read_s: float
    result: TableResult
    plan: dedup.WritePlan
    writer: JavaTableWriter


def _stage_records(spark: SparkSession, bucket: str, p: off.Plan, states: dict[str, dict[str, str] | None],
                   name: str, reader: DriverKafkaReader, keep: Callable[[bytes | None], bool],
                   java_writers: JavaWriters) -> JvmBatch | list[Record] | None:
    """The fast path of a cycle of one table whose Java writer parses raw records (trades): read the batch
    in the driver and stage it in the JVM. Returns the staged batch; the records read, when the JVM parser
    left one of them to Spark; None when the path does not apply (a batch too large for the driver, the
    table behind the read's start, no writer yet)."""
    java = java_writers.get(BRONZE_TABLES[name], bronze_path(bucket, name))
    if java is None or not java.parses_records or parse.offset_filter(p.table_from[name], p.start) is not None:
        return None
    started = time.monotonic()
    records = reader.read_records(p, keep)
    if records is None:
        return None
    read_s = time.monotonic() - started
    t = BRONZE_TABLES[name]
    ranges = dedup.committed_ranges(spark, java.path, t, states[name])
    staged = java.stage_records(records, ranges)
    if isinstance(staged, str):
        log.info("bronze %s: %s; this batch is parsed by Spark", name, staged)
        return records
    res, w = _java_result(t, staged, {ID_RANGES_KEY: ids.encode(ids.merge(ranges, staged.ids))}, None)
    res.parser = "jvm"
    return JvmBatch(read_s, res, w, java)


def _write(spark: SparkSession, bucket: str, p: off.Plan, jobs: list[tuple[TableDef, dedup.WritePlan]],
           java_jobs: dict[str, JavaTableWriter], java_writers: JavaWriters | None, results: dict[str, TableResult],
           cached: list[DataFrame], run_id: str | None, write_threads: int, parallelism: int,
           async_clustering: tuple[str, ...], t0: float, phases: dict[str, float], n_read: int | None
           ) -> RunResult:
    """Commit every planned table that has rows or a moved checkpoint (each its own Hudi commit)."""

    def write(job: tuple[TableDef, dedup.WritePlan]) -> None:
        t, w = job
        started = time.monotonic()
        java = java_jobs.get(t.name)
        if java is None:
            write_table(spark, w, t, bronze_path(bucket, t.name), p.table_checkpoint[t.name], run_id, parallelism,
                        t.name in async_clustering)
        else:
            try:
                java.commit(commit_metadata(off.encode(p.table_checkpoint[t.name]), run_id, w.state))
            except BaseException:
                java_writers.discard(t.name)   # its client may hold a half-done instant: start a fresh one
                raise
        results[t.name].write_s, results[t.name].inserted = time.monotonic() - started, w.insert
        log.info("bronze %s: %d rows committed (%s, %s)", t.name, results[t.name].rows,
                 "insert" if w.insert else "upsert", results[t.name].writer)

    try:
        with ThreadPoolExecutor(max_workers=max(1, write_threads), thread_name_prefix="bronze-write") as pool:
            todo = [j for j in jobs if results[j[0].name].rows or p.changed(j[0].name)]
            for f in [pool.submit(write, j) for j in todo]:
                f.result()  # re-raise the first failure; committed tables keep their (consistent) checkpoints
    except BaseException:
        _unpersist(cached)  # a long-running caller (the stream) may retry: do not leak this batch's cache
        raise
    phases["write"] = time.monotonic() - t0 - sum(phases.values())
    return RunResult(p, n_read, results, int(time.time() * 1000), time.monotonic() - t0, cached, phases)


def _stage_java(spark: SparkSession, java: JavaTableWriter, t: TableDef, good: DataFrame,
                state: dict[str, str] | None) -> tuple[TableResult, dedup.WritePlan] | None:
    """The batch collected into ``java``'s JVM writer, its summary and the state its commit will carry: a
    dense-id table without the ids it holds; a rising-key table only when the batch lies wholly above the
    committed key marks (None otherwise: the caller upserts it through the datasource)."""
    if t.dense_id:
        ranges = dedup.committed_ranges(spark, java.path, t, state)
        staged = java.stage(good, ranges)
        return _java_result(t, staged, {ID_RANGES_KEY: ids.encode(ids.merge(ranges, staged.ids))}, good)
    marks = dedup.committed_marks(spark, java.path, t, state)
    staged = java.stage(good, {})
    if not km.all_above(marks, staged.key_min):
        log.info("bronze %s: the batch reaches back to committed keys (replay, duplicate or late event): upsert",
                 t.name)
        return None
    return _java_result(t, staged, {KEY_MARKS_KEY: km.encode(km.merge(marks, staged.key_max))}, good)


def _java_result(t: TableDef, staged: Staged, state: dict[str, str], good: DataFrame | None
                 ) -> tuple[TableResult, dedup.WritePlan]:
    if staged.dropped:
        log.warning("bronze %s: %d row(s) with ids already committed dropped (replay or duplicate)", t.name,
                    staged.dropped)
    res = TableResult(rows=staged.rows, max_ingest_ms=staged.max_ingest_ms, min_event_ms=staged.min_time_ms,
                      max_event_ms=staged.max_time_ms, partitions=staged.partitions,
                      duplicates_dropped=staged.dropped, writer="java-client")
    return res, dedup.WritePlan(good, True, state, staged.dropped)


def lost_range_record(lost: list[dict], run_id: str | None) -> bytes:
    return json.dumps({"detected_ms": int(time.time() * 1000), "run_id": run_id, "lost": lost}, indent=1).encode()
