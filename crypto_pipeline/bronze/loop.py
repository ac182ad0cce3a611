"""Continuous bronze: one long-lived Spark session looping short bounded batches (run by the
``bronze-writer`` service, :mod:`crypto_pipeline.bronze.service`).

Why a loop of bounded batches rather than a run per sensor tick or a Structured Streaming query: a run
per tick pays a process start, a Spark JVM start and seven Hudi commits every time (freshness p95 was
159 s), while a Structured Streaming query would keep its offsets in a Spark checkpoint directory on S3A
(rename-based, and it can diverge from the table) and the Hudi streaming sink exits the JVM on a failed
batch. The loop reuses exactly the batch path (:func:`run_bronze`): offsets are decided up front from
the tables' own commits and committed in the same Hudi commit as the rows, so killing it at any point and
starting it again is exactly-once.

Freshness comes from splitting the work between two loops in the same session, each the only writer of
its tables: the *fast* loop writes the hot tables (trades by default) every ``fast_interval_s``, reading
Kafka from their own checkpoints; the *slow* loop writes every other table and the quarantine (which takes
the invalid rows of every stream, trades included) every ``full_every_s``. The slow loop never holds the
trades back, and Spark's FAIR scheduler (pools ``bronze_fast``/``bronze_slow``) interleaves their jobs."""
from __future__ import annotations

import logging
import queue
import threading
import time
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import SparkSession

from crypto_pipeline.bronze.job import RunResult, run_bronze
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.clustering import ClusteringResult, cluster_table, is_write_conflict
from crypto_pipeline.lakehouse.hudi import SEPARATELY_CLUSTERED, table_exists
from crypto_pipeline.lakehouse.java_writer import JavaWriters
from crypto_pipeline.lakehouse.kafka_batch import DRIVER_READ_MAX, DriverKafkaReader, KafkaTarget
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, QUARANTINE, bronze_path
from crypto_pipeline.lakehouse.writer_lock import TableLocks, clustering_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSettings:
    fast_tables: tuple[str, ...] = ("trades",)
    fast_interval_s: float = 5.0          # a fast cycle starts at most this often (start to start)
    full_every_s: float = 120.0           # the other tables and the quarantine (start to start)
    cluster_every_s: float = 600.0        # the slow loop clusters the separately clustered tables (trades) this often
    max_per_partition: int = 50_000       # bounds one cycle after a long stop (catch-up in several cycles)
    accept_data_loss: bool = False
    write_threads: int = 2
    driver_read_max: int = DRIVER_READ_MAX  # batches up to this many records: a consumer in the driver reads them
    java_client: bool = True              # inserts of dense-id and flat rising-key tables: Hudi's Java write client
    jvm_parse: bool = True                # with the Java client: trades parsed in the JVM from the raw records

    def __post_init__(self) -> None:
        unknown = set(self.fast_tables) - set(BRONZE_TABLES)
        if unknown:
            raise ValueError(f"fast_tables: unknown bronze tables {sorted(unknown)}; known: {sorted(BRONZE_TABLES)}")
        if QUARANTINE.name in self.fast_tables:
            raise ValueError("fast_tables: the quarantine is written by the slow loop (it takes every stream's rows)")
        if not self.fast_tables:
            raise ValueError("fast_tables: name at least one table (trades is the usual one)")
        if self.full_every_s <= 0 or self.fast_interval_s < 0 or self.cluster_every_s <= 0:
            raise ValueError(f"full_every_s and cluster_every_s must be > 0, fast_interval_s >= 0 "
                             f"(got {self.full_every_s}, {self.fast_interval_s}, {self.cluster_every_s})")

    @property
    def slow_tables(self) -> tuple[str, ...]:
        return tuple(n for n in BRONZE_TABLES if n not in self.fast_tables)


@dataclass
class Cycle:
    number: int
    full: bool            # True: a slow-loop cycle (the other tables and the quarantine)
    result: RunResult
    started_ms: int
    clustering: tuple[ClusteringResult, ...] = ()   # the separately clustered tables' pass after a slow cycle

    @property
    def freshness_ms(self) -> dict[str, int]:
        """Per written table: commit time minus the newest event it wrote (what a reader sees as lag)."""
        return {n: self.result.committed_ms - t.max_event_ms for n, t in self.result.tables.items()
                if t.rows and t.max_event_ms is not None}


@dataclass
class LoopState:
    cycles: int = 0
    full_cycles: int = 0
    conflicts: int = 0    # fast cycles that lost a race with the clustering thread (retried)
    rows: dict[str, int] = field(default_factory=dict)


def run_loop(spark: SparkSession, bucket: str, bootstrap: KafkaTarget, pattern: str,
             end_offsets: Callable[[], off.Watermarks], settings: LoopSettings, should_stop: Callable[[], bool],
             on_cycle: Callable[[Cycle], None], run_id: str | None = None, locks: TableLocks | None = None,
             after_slow: Callable[[], None] | None = None) -> LoopState:
    """Run the fast loop in this thread and the slow loop in a daemon thread until ``should_stop()``.

    ``on_cycle`` is always called from this thread: the slow loop hands its cycles over through a queue.
    ``locks``: every cycle holds its tables' writer locks, and a clustering pass its clustering lock (other
    processes writing bronze see them). ``after_slow`` runs in the slow loop's thread after each of its
    cycles (the data-quality checks). A failure in either loop stops both and is raised."""
    state = LoopState()
    done: queue.Queue[Cycle] = queue.Queue()
    failed: list[BaseException] = []
    stop = threading.Event()

    def stopping() -> bool:
        return stop.is_set() or should_stop()

    def reader() -> AbstractContextManager[DriverKafkaReader | None]:  # one per loop (a consumer is per thread)
        return DriverKafkaReader(bootstrap, settings.driver_read_max) if settings.driver_read_max > 0 else nullcontext()

    async_tables = SEPARATELY_CLUSTERED

    def cycle(tables: tuple[str, ...], full: bool, kafka: DriverKafkaReader | None,
              java: JavaWriters | None = None) -> Cycle:
        started_ms = int(time.time() * 1000)
        # a fast cycle reads at most what the driver's consumer takes: behind (a restart, many symbols), it
        # catches up in several cycles of that size, each cheap, instead of one batch through Spark's Kafka
        # source, which takes longer than the data it reads once there are hundreds of partitions
        cap = settings.driver_read_max if not full and kafka is not None else None
        res = run_bronze(spark, bucket, bootstrap, pattern, end_offsets, max_per_partition=settings.max_per_partition,
                         accept_data_loss=settings.accept_data_loss, run_id=run_id,
                         write_threads=settings.write_threads, tables=tables, driver_reader=kafka,
                         async_clustering=async_tables, locks=locks, java_writers=java, max_records=cap)
        res.release()  # the loop reports counts only; the cached frames are not needed after the commit
        return Cycle(0, full, res, started_ms)

    def cluster() -> tuple[ClusteringResult, ...]:
        out = []
        for name in async_tables:
            path = bronze_path(bucket, name)
            if not table_exists(spark, path):
                continue
            try:
                with (locks.hold([clustering_lock(name)]) if locks is not None else nullcontext()):
                    out.append(cluster_table(spark, BRONZE_TABLES[name], path))
            except Exception as e:  # noqa: BLE001 - a lost race is retried at the next turn; the rest is raised
                if not is_write_conflict(e):
                    raise
                log.warning("bronze %s clustering lost a race with the writer; retried in %.0fs",
                            name, settings.cluster_every_s)
        return tuple(out)

    def pace(t0: float, interval: float, c: Cycle | None) -> None:
        # a cycle cut short by its cap (max_per_partition, the driver's read size) left records behind: the
        # next one starts now, or a loop behind by more than a cap per interval would never catch up
        if c is not None and c.result.plan.left:
            log.info("bronze %s cycle read to its cap, %d records left in Kafka: the next cycle starts now",
                     "slow" if c.full else "fast", c.result.plan.left)
            return
        while not stopping() and time.monotonic() - t0 < interval:
            stop.wait(min(0.5, max(0.0, interval - (time.monotonic() - t0))))

    def slow() -> None:
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", "bronze_slow")
        java = JavaWriters(spark, settings.slow_tables, parse_records=False) if settings.java_client else None
        try:
            with reader() as kafka, (closing(java) if java is not None else nullcontext()):
                clustered = time.monotonic()
                while not stopping():
                    t0 = time.monotonic()
                    c = cycle(settings.slow_tables, True, kafka, java)
                    if not stopping() and time.monotonic() - clustered >= settings.cluster_every_s:
                        clustered = time.monotonic()
                        c.clustering = cluster()
                    done.put(c)
                    if after_slow is not None and not stopping():
                        after_slow()
                    pace(t0, settings.full_every_s, c)
        except BaseException as e:  # noqa: BLE001 - handed to the fast loop, which raises it
            failed.append(e)
            stop.set()

    def report(c: Cycle) -> None:
        state.cycles += 1
        state.full_cycles += c.full
        c.number = state.cycles
        for name, t in c.result.tables.items():
            state.rows[name] = state.rows.get(name, 0) + t.rows
        on_cycle(c)

    spark.sparkContext.setLocalProperty("spark.scheduler.pool", "bronze_fast")
    java = JavaWriters(spark, settings.fast_tables, parse_records=settings.jvm_parse) if settings.java_client else None
    worker = threading.Thread(target=slow, name="bronze-slow-loop", daemon=True)
    worker.start()
    try:
        with reader() as kafka, (closing(java) if java is not None else nullcontext()):
            while not stopping():
                t0 = time.monotonic()
                c = None
                try:
                    c = cycle(settings.fast_tables, False, kafka, java)
                    report(c)
                except Exception as e:  # noqa: BLE001 - nothing was committed: the next cycle reads the same offsets
                    if not is_write_conflict(e):
                        raise
                    state.conflicts += 1
                    log.warning("bronze fast cycle lost a race with clustering (%s); retrying", type(e).__name__)
                while not done.empty():
                    report(done.get())
                pace(t0, settings.fast_interval_s, c)
    finally:
        stop.set()
        worker.join(timeout=300)  # the slow loop ends after its current cycle (a cycle is all-or-nothing per table)
        while not done.empty():
            report(done.get())
    if failed:
        raise failed[0]
    return state
