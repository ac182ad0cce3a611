"""The continuous bronze writer as a Dagster job: a long-running run that loops bounded batches
(:mod:`crypto_pipeline.assets.bronze.stream`) and reports materialisations of the bronze assets.

Why a Dagster run and not a separate daemon: it is started, stopped, logged and restarted where the rest
of the pipeline is (the UI shows it running, its cycles in the run log, its materialisations on the bronze
assets, so eager automation moves silver along). A keeper sensor starts it when none is running; the
``bronze_writer`` concurrency pool (limit 1, run granularity, see config/dagster/dagster.yaml) keeps a
manual ``bronze_ingest`` from writing the same tables at the same time: that run waits in the queue."""

import statistics
import time
from dataclasses import dataclass, field

from dagster import (AssetKey, AssetMaterialization, Config, DagsterRunStatus, DefaultSensorStatus, Failure,
                     MetadataValue, OpExecutionContext, RunRequest, RunsFilter, SensorEvaluationContext, SkipReason,
                     in_process_executor, job, op, sensor)
from dagster_pyspark import PySparkResource
from pydantic import Field

from crypto_pipeline.assets.bronze.stream import Cycle, LoopSettings, run_loop
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from crypto_pipeline.resources.s3 import S3Resource

BRONZE_POOL = "bronze_writer"
ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
          DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
RESTART_BACKOFF_S = 120


class BronzeStreamConfig(Config):
    fast_tables: list[str] = Field(default=["trades"], description="tables written every cycle (freshness)")
    fast_interval_s: float = Field(default=5, description="a fast cycle (fast_tables) starts at most this often")
    full_every_s: float = Field(default=120, description="the other tables and the quarantine, this often")
    cluster_every_s: float = Field(default=600, description="the slow loop merges the fast tables' small files this "
                                                            "often (0: their writer clusters inline, every 60 commits)")
    report_every_s: float = Field(default=60, description="how often materialisations are reported to Dagster")
    max_offsets_per_partition: int = Field(default=50_000, description="cap per topic-partition per cycle "
                                                                        "(a catch-up after a stop takes several cycles)")
    accept_data_loss: bool = Field(default=False, description="acknowledge offsets lost to retention and continue")
    stop_after_s: float | None = Field(default=None, description="end the run after this long (tests); None = until terminated")


@dataclass
class _TableWindow:
    rows: int = 0
    commits: int = 0
    duplicates_dropped: int = 0
    upserts: int = 0          # commits that needed Hudi's index lookup (the rest were plain inserts)
    write_s_max: float = 0.0
    freshness_ms: list[int] = field(default_factory=list)
    last_checkpoint: off.Offsets | None = None


class Reporter:
    """Aggregates cycles into one materialisation per written table every ``every_s`` (a per-cycle event
    would put ~100k events a day into the event log; a minute keeps the UI's history readable)."""

    def __init__(self, context: OpExecutionContext, every_s: float) -> None:
        self.context, self.every_s = context, every_s
        self.window: dict[str, _TableWindow] = {}
        self.cycles = 0
        self.fast_s: list[float] = []       # fast cycle durations in this window
        self.slow: list[str] = []           # slow cycles in this window: duration and the slowest writes
        self.clustering: list[str] = []     # clustering done in this window
        self.fast_max_phases = ""           # where the slowest fast cycle of the window spent its time
        self.opened = time.monotonic()

    def __call__(self, cycle: Cycle) -> None:
        res = cycle.result
        self.cycles += 1
        if cycle.full:
            slowest = sorted(((t.write_s, n) for n, t in res.tables.items() if t.write_s), reverse=True)[:3]
            self.slow.append(f"{res.seconds:.1f}s [{res.phase_text()}]"
                             + (" (" + ", ".join(f"{n} {s:.1f}s" for s, n in slowest) + ")" if slowest else ""))
        else:
            if res.seconds > max(self.fast_s, default=0):
                self.fast_max_phases = res.phase_text()
            self.fast_s.append(res.seconds)
        self.clustering += [f"{c.table} {c.groups} group(s) {c.seconds:.1f}s" for c in cycle.clustering]
        fresh = cycle.freshness_ms
        for name, t in res.tables.items():
            w = self.window.setdefault(name, _TableWindow())
            if t.rows or res.plan.changed(name):
                w.commits += 1
                w.rows += t.rows
                w.duplicates_dropped += t.duplicates_dropped
                w.upserts += not t.inserted
                w.write_s_max = max(w.write_s_max, t.write_s)
                w.last_checkpoint = res.plan.table_checkpoint[name]
            if name in fresh:
                w.freshness_ms.append(fresh[name])
        if time.monotonic() - self.opened >= self.every_s:
            self.flush()

    def flush(self) -> None:
        if not self.cycles:
            return
        span = time.monotonic() - self.opened
        for name, w in self.window.items():
            if not w.commits:
                continue
            meta = {"rows_written": w.rows, "commits": w.commits, "upsert_commits": w.upserts,
                    "write_seconds_max": round(w.write_s_max, 2), "window_s": round(span, 1),
                    "writer": "bronze_stream_job", "path": bronze_path("<bucket>", name)}
            if w.freshness_ms:
                meta["freshness_at_commit_p50_ms"] = int(statistics.median(w.freshness_ms))
                meta["freshness_at_commit_max_ms"] = max(w.freshness_ms)
            if BRONZE_TABLES[name].dense_id:
                meta["duplicates_dropped"] = w.duplicates_dropped
            if w.last_checkpoint is not None:
                meta["kafka_checkpoint"] = MetadataValue.json(off.encode(w.last_checkpoint))
            self.context.log_event(AssetMaterialization(asset_key=AssetKey(BRONZE_TABLES[name].asset_name),
                                                        metadata=meta))
        self.context.log.info(
            f"bronze stream: {self.cycles} cycles in {span:.0f}s, fast p50 "
            f"{statistics.median(self.fast_s) if self.fast_s else 0:.1f}s max {max(self.fast_s, default=0):.1f}s"
            + (f" [{self.fast_max_phases}]" if self.fast_s else "") + ", slow "
            + (", ".join(self.slow) or "none")
            + ("; clustered " + ", ".join(self.clustering) if self.clustering else "") + "; rows "
            + ", ".join(f"{n}={w.rows}" for n, w in self.window.items() if w.rows))
        self.window, self.cycles, self.fast_s, self.slow, self.clustering = {}, 0, [], [], []
        self.opened = time.monotonic()


@op(pool=BRONZE_POOL, description="Kafka crypto_raw_* -> bronze Hudi tables continuously (bounded batches, "
                                  "offsets in the Hudi commits); runs until the run is terminated.")
def bronze_stream(context: OpExecutionContext, config: BronzeStreamConfig, spark_stream: PySparkResource,
                  s3: S3Resource, kafka: KafkaResource) -> None:
    try:
        settings = LoopSettings(fast_tables=tuple(config.fast_tables), fast_interval_s=config.fast_interval_s,
                                full_every_s=config.full_every_s, cluster_every_s=config.cluster_every_s,
                                max_per_partition=config.max_offsets_per_partition,
                                accept_data_loss=config.accept_data_loss)
    except ValueError as e:
        raise Failure(description=f"bronze_stream config: {e}") from e
    deadline = None if config.stop_after_s is None else time.monotonic() + config.stop_after_s
    reporter = Reporter(context, config.report_every_s)
    context.log.info(f"bronze stream starting: {settings.fast_tables} every {settings.fast_interval_s:g}s, "
                     f"{settings.slow_tables} every {settings.full_every_s:g}s, topics /{kafka.topic_pattern}/, bucket {s3.bucket}")
    try:
        with kafka.watermark_reader() as end_offsets:
            state = run_loop(spark_stream.spark_session, s3.bucket, kafka.bootstrap_servers, kafka.topic_pattern,
                             end_offsets, settings, lambda: deadline is not None and time.monotonic() >= deadline,
                             reporter, run_id=context.run.run_id)
    except off.RetentionLossError as e:
        from crypto_pipeline.assets.bronze.assets import record_loss

        record_loss(context, s3, e.lost)
        raise Failure(description=str(e), metadata={"lost_ranges": MetadataValue.json(e.lost)}) from e
    finally:
        reporter.flush()
    context.log.info(f"bronze stream stopped after {state.cycles} cycles ({state.full_cycles} full, "
                     f"{state.conflicts} retried after a clustering conflict): {state.rows}")


@job(description="Keeps bronze fresh: one long-running Spark session writing the bronze tables every few "
                 "seconds. Started by bronze_stream_keeper; stop it by terminating the run.",
     tags={"crypto/writer": "bronze"},
     executor_def=in_process_executor)  # one op: no step subprocess (a resident Python process saved)
def bronze_stream_job():
    bronze_stream()


def _interrupted(context: SensorEvaluationContext, run_id: str) -> bool:
    """The run was killed from outside (the stack stopping, SIGTERM) rather than failing on its own: no
    reason to wait before the next one (``./stop.sh`` can kill a run the keeper started a moment before)."""
    from dagster import DagsterEventType

    records = context.instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    return any("interrupted" in (r.event_log_entry.dagster_event.message or "") for r in records
               if r.event_log_entry.dagster_event is not None)


@sensor(job=bronze_stream_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description=f"Starts bronze_stream_job when none is queued or running (after a failure it waits "
                    f"{RESTART_BACKOFF_S}s, so a broken dependency does not produce a failed run every tick; "
                    f"not after a run killed from outside).")
def bronze_stream_keeper(context: SensorEvaluationContext):
    runs = context.instance.get_runs(filters=RunsFilter(job_name=bronze_stream_job.name), limit=1)
    if runs and runs[0].status in ACTIVE:
        return SkipReason(f"bronze stream run {runs[0].run_id} is {runs[0].status.value.lower()}")
    if runs and runs[0].status == DagsterRunStatus.FAILURE and not _interrupted(context, runs[0].run_id):
        record = context.instance.get_run_record_by_id(runs[0].run_id)
        ended = record.end_time if record and record.end_time else time.time()
        wait = RESTART_BACKOFF_S - (time.time() - ended)
        if wait > 0:
            return SkipReason(f"bronze stream run {runs[0].run_id} failed; restarting in {wait:.0f}s")
    return RunRequest(tags={"crypto/restart_of": runs[0].run_id} if runs else {})
