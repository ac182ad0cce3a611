"""The ``bronze-writer`` service: Kafka ``crypto_raw_*`` -> bronze Hudi tables, continuously, under the
stack's supervisor (infra/services.py), with a health endpoint; it reports its commits and the bronze
data-quality checks to Dagster as runless asset events.

Why a service and not a Dagster run: the loop never ends. As a run it held a run slot forever and needed a
keeper sensor with its own restart heuristics; here supervisord restarts it, and Dagster still sees every
commit (lineage, freshness, silver's automation) through the events of :mod:`crypto_pipeline.bronze.report`.
Exactly-once does not depend on how it stops: offsets live in the Hudi commits (:mod:`crypto_pipeline.bronze.loop`).

    python -m crypto_pipeline.bronze.service      # settings from the environment, see WriterConfig.from_env
"""
from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from crypto_pipeline.bronze import checks
from crypto_pipeline.bronze.health import Health, dependency_probe, serve_health
from crypto_pipeline.bronze.job import lost_range_record
from crypto_pipeline.bronze.loop import Cycle, LoopSettings, run_loop
from crypto_pipeline.bronze.report import DagsterEvents, Reporter
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.kafka_batch import watermark_reader
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES
from crypto_pipeline.lakehouse.writer_lock import TableLocks
from shared.kafka_connection import KafkaConnection, KafkaConnectionError

log = logging.getLogger("bronze-writer")

LOST_LOG_PREFIX = "bronze/_ingest_log/lost_offsets"
FAIR_POOLS = Path(__file__).resolve().parents[2] / "config" / "spark" / "fairscheduler.xml"

# A Spark session that runs all day, thousands of small queries an hour. Measured on the resident writer JVM
# after 30 min (jstat, class histogram): 800 concurrent GC cycles with ~160 MB of strings live — the status
# store keeps 1,000 SQL executions with their plan text even with the UI off, and these plans (JSON payload
# schemas) are large; and the JIT recompiling generated code all along: Spark's cache of generated code (100
# entries) is smaller than one slow cycle's set of queries.
RESIDENT_SESSION: dict[str, str] = {
    "spark.sql.ui.retainedExecutions": "20",
    "spark.ui.retainedJobs": "50",
    "spark.ui.retainedStages": "50",
    "spark.ui.retainedTasks": "2000",
    "spark.sql.codegen.cache.maxEntries": "2000",
    "spark.ui.showConsoleProgress": "false",   # progress bars would fill the service's log
    # the checks hand Spark the key columns they read from the newest commits' files (pandas): as Arrow batches
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # a large batch is read by Spark's Kafka source, a pooled consumer per partition (kafka_batch.SPARK_GROUP):
    # the default pool of 64 would log new consumers in on every read once there are more partitions
    "spark.kafka.consumer.cache.capacity": "2048",
    # its cached batches live for one cycle: compressing them cost more CPU (profiled) than it saves
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
    # stages stay 2 tasks wide, so the slow loop cannot take the trades' slots with one stage
    "spark.default.parallelism": "2",
    # two loops share the session; FAIR pools keep trades from queuing behind the slow loop's stages
    "spark.scheduler.mode": "FAIR",
    "spark.scheduler.allocation.file": str(FAIR_POOLS),
}


def _flag(name: str, value: str) -> bool:
    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{name}={value!r}: expected true/false")
    return value.lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class WriterConfig:
    bootstrap: KafkaConnection  # with the pipeline's Kafka login (read-only on the raw topics)
    pattern: str
    s3_endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    dagster_url: str
    health_host: str
    health_port: int
    driver_memory: str = "1g"
    report_every_s: float = 60.0
    check_every_s: float = 300.0
    retry_for_s: float = 600.0     # failing cycles are retried in-process this long, then the process exits
    accept_data_loss: bool = False
    loop: LoopSettings = field(default_factory=LoopSettings)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "WriterConfig":
        """Every setting from the environment (infra/services.py sets them); a bad value names its variable."""
        env = dict(os.environ if env is None else env)

        def get(name: str, default: str | None = None) -> str:
            if env.get(name) is None and default is None:
                raise KeyError(f"bronze-writer: environment variable {name} is not set (infra/services.py sets it)")
            return env.get(name) or default  # type: ignore[return-value]

        def num(name: str, default: str, kind=float):
            try:
                return kind(get(name, default))
            except ValueError:
                raise ValueError(f"bronze-writer: {name}={env.get(name)!r} is not a number") from None

        try:
            accept = _flag("BRONZE_ACCEPT_DATA_LOSS", get("BRONZE_ACCEPT_DATA_LOSS", "false"))
            loop = LoopSettings(fast_interval_s=num("BRONZE_FAST_INTERVAL_S", "5"),
                                full_every_s=num("BRONZE_FULL_EVERY_S", "120"),
                                cluster_every_s=num("BRONZE_CLUSTER_EVERY_S", "600"),
                                max_per_partition=num("BRONZE_MAX_OFFSETS_PER_PARTITION", "50000", int),
                                accept_data_loss=accept, java_client=_flag("BRONZE_JAVA_CLIENT", get("BRONZE_JAVA_CLIENT", "true")),
                                jvm_parse=_flag("BRONZE_JVM_PARSE", get("BRONZE_JVM_PARSE", "true")))
        except ValueError as e:
            raise ValueError(f"bronze-writer: {e}") from None
        try:
            kafka = KafkaConnection.from_env(env)
        except KafkaConnectionError as e:
            raise KeyError(f"bronze-writer: {e}") from None
        return cls(bootstrap=kafka, pattern=get("BRONZE_TOPIC_PATTERN", r"^crypto_raw_.*"),
                   s3_endpoint=get("S3_ENDPOINT"), access_key=get("S3_ACCESS_KEY"), secret_key=get("S3_SECRET_KEY"),
                   bucket=get("MINIO_BUCKET"), dagster_url=get("DAGSTER_URL"),
                   health_host=get("BRONZE_WRITER_HOST", "127.0.0.1"), health_port=num("BRONZE_WRITER_PORT", "9110", int),
                   driver_memory=get("BRONZE_WRITER_DRIVER_MEMORY", "1g"),
                   report_every_s=num("BRONZE_REPORT_EVERY_S", "60"), check_every_s=num("BRONZE_CHECK_EVERY_S", "300"),
                   retry_for_s=num("BRONZE_RETRY_FOR_S", "600"), accept_data_loss=accept, loop=loop)


def writer_spark_conf(cfg: WriterConfig) -> dict[str, str]:
    from crypto_pipeline.resources.spark import default_jars_dir, spark_conf

    # 6 task slots on 2 cores: tasks are not preemptible, and the slow loop's parse/write tasks (seconds
    # each) held both slots of local[2] while trade cycles queued behind them; with 6 a trade stage (2 tasks)
    # always finds free slots and the OS shares the cores.
    return {**spark_conf(default_jars_dir(), cfg.s3_endpoint, cfg.access_key, cfg.secret_key, "local[6]",
                         cfg.driver_memory, 2), **RESIDENT_SESSION}


def record_loss(cfg: WriterConfig, events: DagsterEvents, lost: list[dict], run_id: str) -> str:
    """Lost ranges go to the log, an object in the bucket and an observation on every bronze asset."""
    from urllib.parse import urlparse

    from minio import Minio

    body = lost_range_record(lost, run_id)
    name = f"{LOST_LOG_PREFIX}/{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{run_id[-8:]}.json"
    u = urlparse(cfg.s3_endpoint)
    try:
        Minio(u.netloc, access_key=cfg.access_key, secret_key=cfg.secret_key, secure=u.scheme == "https") \
            .put_object(cfg.bucket, name, io.BytesIO(body), len(body), content_type="application/json")
    except Exception as exc:  # noqa: BLE001 - never hide the loss behind a storage error
        log.error("could not store lost-offset record %s: %s", name, exc)
    log.error("Kafka offsets lost before bronze read them: %s (record s3://%s/%s)", lost, cfg.bucket, name)
    for t in BRONZE_TABLES.values():
        events.observation(t.asset_name, {"lost_offset_ranges": lost, "lost_record": f"s3://{cfg.bucket}/{name}"})
    return name


def run(cfg: WriterConfig, stop: threading.Event, health: Health, events: DagsterEvents) -> None:
    """Run the loops until ``stop`` is set. A retention loss is recorded once and leaves the writer
    unhealthy, re-planning every minute (a manual ``bronze_ingest`` with ``accept_data_loss``, or a restart
    with BRONZE_ACCEPT_DATA_LOSS=true, moves it on). Any other failure (Kafka or S3 down, a failed commit)
    is retried in this process with a backoff and reported by the health endpoint, for up to
    ``cfg.retry_for_s``; then, or when the Spark session is gone, it is raised (supervisord restarts)."""
    from crypto_pipeline.resources.spark import local_session

    run_id = f"bronze-writer-{int(time.time())}"
    spark = local_session(writer_spark_conf(cfg), "bronze-writer")
    locks = TableLocks.from_env(cfg.bucket, application="bronze-writer")
    reporter = Reporter(events, cfg.report_every_s)
    last_checks = [0.0]
    checker = checks.Checker()   # remembers how far each table was checked: later evaluations read new commits only

    def on_cycle(c: Cycle) -> None:
        health.failure = None
        health.cycle(c)
        reporter(c)

    def after_slow() -> None:   # in the slow loop's thread, on its Spark session
        if time.monotonic() - last_checks[0] < cfg.check_every_s:
            return
        spark.sparkContext.setJobDescription("bronze checks")
        started = time.monotonic()
        outcomes = checker.evaluate(spark, cfg.bucket, reporter.take_written())
        last_checks[0] = time.monotonic()   # only once evaluated: a failed evaluation is retried next slow cycle
        reporter.flush()   # the checks then target the newest materialisation (what the UI shows them against)
        for o in outcomes:
            events.check(o)
        health.last_checks = time.monotonic()
        failed = [f"{o.asset}.{o.check}" for o in outcomes if not o.passed]
        log.info("bronze checks: %d evaluated in %.1fs%s", len(outcomes), time.monotonic() - started,
                 f", not passing: {failed}" if failed else ", all passed")

    reported_loss: list[dict] | None = None
    retries = 0
    log.info("bronze writer %s: topics /%s/, bucket %s, trades every %gs, other tables every %gs",
             run_id, cfg.pattern, cfg.bucket, cfg.loop.fast_interval_s, cfg.loop.full_every_s)
    with watermark_reader(cfg.bootstrap, cfg.pattern) as end_offsets:
        health.started = time.monotonic()
        while not stop.is_set():
            try:
                state = run_loop(spark, cfg.bucket, cfg.bootstrap, cfg.pattern, end_offsets, cfg.loop, stop.is_set,
                                 on_cycle, run_id=run_id, locks=locks, after_slow=after_slow)
                log.info("bronze writer stopped after %d cycles (%d full, %d retried after a clustering conflict): %s",
                         state.cycles, state.full_cycles, state.conflicts, state.rows)
            except off.RetentionLossError as e:
                if e.lost != reported_loss:
                    record_loss(cfg, events, e.lost, run_id)
                    reported_loss = e.lost
                health.failure = f"retention loss, nothing written: {e}"
                stop.wait(60)
                continue
            except Exception as e:  # noqa: BLE001 - a failed cycle committed nothing it did not checkpoint
                retries = 0 if health.error is None else retries + 1
                if not retry_after(spark, health, e, cfg.retry_for_s, stop, retries):
                    raise
            finally:
                reporter.flush()
                events.flush()
    spark.stop()


def retry_after(spark, health: Health, exc: Exception, retry_for_s: float, stop: threading.Event, retries: int) -> bool:
    """Wait before the loops start again after ``exc``; False when the failure is to be raised instead.

    Why retry in-process and not exit: the loops re-plan every cycle from the tables' committed checkpoints,
    so a cycle that failed anywhere (a broker or the object store down mid-write) is simply done again, while
    a restart pays a Spark JVM start (~30 s of a core) every few seconds for as long as an outage lasts."""
    failing_for = health.failed(exc)
    if not _session_alive(spark):
        log.error("the Spark session is gone (%s): exiting", health.error)
        return False
    if failing_for > retry_for_s:
        log.error("bronze writes failing for %.0fs (> BRONZE_RETRY_FOR_S=%g): exiting: %s",
                  failing_for, retry_for_s, health.error)
        return False
    wait = min(30.0, 2.0 * 2 ** retries)
    log.warning("bronze cycle failed (failing for %.0fs), retrying in %.0fs: %s", failing_for, wait, health.error)
    stop.wait(wait)
    return True


def _session_alive(spark) -> bool:
    try:
        return not spark.sparkContext._jsc.sc().isStopped()
    except Exception:  # noqa: BLE001 - py4j cannot reach the JVM any more
        return False


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        cfg = WriterConfig.from_env()
    except (KeyError, ValueError) as e:
        print(f"bronze-writer: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())   # the current cycles finish (all-or-nothing per table)
    health = Health(probe=dependency_probe(cfg.bootstrap.bootstrap, cfg.s3_endpoint))
    server = serve_health(cfg.health_host, cfg.health_port, health)
    events = DagsterEvents(cfg.dagster_url)
    try:
        run(cfg, stop, health, events)
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
