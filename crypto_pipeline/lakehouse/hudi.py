"""Hudi write options for the lakehouse tables, and the Kafka checkpoint stored in Hudi commit metadata.

Why the checkpoint lives in the commit: the offsets a table has consumed become visible in the same
atomic timeline transition as the rows (a completed ``commit`` instant), so there is no separate
checkpoint store that could run ahead of or behind the table (S3A has no atomic rename either)."""
from __future__ import annotations

import json
import logging
from typing import Any

from crypto_pipeline.lakehouse.tables import TableDef

COMMIT_META_PREFIX = "bronze."
CHECKPOINT_KEY = COMMIT_META_PREFIX + "kafka.checkpoint"
ID_RANGES_KEY = COMMIT_META_PREFIX + "id_ranges"   # dense-id tables: committed ids (lakehouse/id_ranges.py)
KEY_MARKS_KEY = COMMIT_META_PREFIX + "key_marks"   # rising-key tables: committed maxima (lakehouse/key_marks.py)
STATE_KEYS = (CHECKPOINT_KEY, ID_RANGES_KEY, KEY_MARKS_KEY)
RUN_ID_KEY = COMMIT_META_PREFIX + "dagster.run_id"
MB = 1024 * 1024
PENDING_SUFFIXES = (".requested", ".inflight")

log = logging.getLogger(__name__)

# Small files (docs/architecture.md): bronze commits every few seconds (the bronze-writer service), so a commit
# never rewrites an existing file (COW bin-packing would rewrite each symbol's newest file on every commit
# and the cleaner would have to keep every superseded copy); it writes new files, and clustering merges the
# small ones into files of up to 64 MB: inline every 60 commits, or, for the stream's fast tables, by
# another thread of the same writer (ASYNC_CLUSTERING) so a trade commit never waits for a rewrite. The
# cleaner keeps 180 commits (about half an hour at the stream's cadence) so silver's incremental reads find
# the files of commits it has not read yet; archival keeps the active timeline (listed every cycle) a little
# above that.
FILE_SIZING: dict[str, str] = {
    "hoodie.parquet.small.file.limit": "0",
    "hoodie.parquet.max.file.size": str(64 * MB),
    "hoodie.copyonwrite.record.size.estimate": "256",
    "hoodie.clustering.inline": "true",
    "hoodie.clustering.inline.max.commits": "60",
    "hoodie.clustering.plan.strategy.small.file.limit": str(32 * MB),
    "hoodie.clustering.plan.strategy.target.file.max.bytes": str(64 * MB),
    "hoodie.clean.automatic": "true",
    "hoodie.clean.trigger.max.commits": "20",  # plan cleaning every 20 commits, not after each one (a listing per commit)
    "hoodie.clean.policy": "KEEP_LATEST_COMMITS",
    "hoodie.clean.commits.retained": "180",
    "hoodie.keep.min.commits": "200",
    "hoodie.keep.max.commits": "220",
}

UPSERT_CLUSTER_EVERY = 10   # inline clustering of a table that is always upserted (klines), in commits

# How every bronze write client (the writer's and a clustering thread's) indexes and lists files.
WRITE_TUNING: dict[str, str] = {
    # BLOOM + key-range pruning: keys grow with time (trade ids, update ids, event times), so a small
    # batch only probes the newest file of each symbol/day; SIMPLE (Spark's default) would read every
    # key of the day's partition on every commit, which grows all day long.
    "hoodie.index.type": "BLOOM",
    # Every new file carries a bloom filter of its keys, serialised bit by bit, and a commit writes a file
    # per symbol: its cost follows files, not rows (docs/benchmarks-bronze.md: Hudi's default, 60,000 keys
    # at 1e-9, was a third of the stream's CPU; 5,000 at 1e-6 still a quarter of the writer's JVM at 100
    # symbols). A commit's file holds tens to hundreds of keys; the dynamic filter grows in steps of
    # num_entries when a (clustered) file holds more; a false positive only costs a look at that file's
    # keys, and only upserts look (klines, late rows). Key ranges prune most files before any filter is read.
    "hoodie.index.bloom.num_entries": "1000",
    "hoodie.index.bloom.fpp": "0.0001",
    # Few partitions (symbol x day) and one writer per table: plain listing is cheap, while the metadata
    # table doubles every commit (it is a Hudi MOR table of its own) and its column/partition stats
    # cost more per commit than the data here. The timeline server only pays off for large writes.
    "hoodie.metadata.enable": "false",
    "hoodie.embed.timeline.server": "false",
    "hoodie.write.markers.type": "DIRECT",
}

# Tables clustered apart from their writes (crypto_pipeline/lakehouse/clustering.py): the bronze-writer's
# slow loop clusters trades every 10 minutes, so a trade commit never carries a clustering rewrite; a manual
# bronze_ingest clusters them after its write. Every writer of these tables uses ASYNC_CLUSTERING.
SEPARATELY_CLUSTERED = ("trades",)

# A clustering beside the table's writes needs Hudi's optimistic concurrency control: a lock around each
# commit's conflict check (in-process: the writer's loops share one JVM; writes from other processes are
# kept apart by the table's writer lock, crypto_pipeline/lakehouse/writer_lock.py), and failed writes rolled
# back lazily (by heartbeat) so no writer rolls back a clustering in flight. Writes only add new file
# groups (small.file.limit 0), so they do not conflict with a clustering that replaces old ones; the rare
# update of a key in a file group under clustering fails that commit, and the next cycle retries it.
ASYNC_CLUSTERING: dict[str, str] = {
    "hoodie.clustering.inline": "false",
    "hoodie.clustering.schedule.inline": "false",
    "hoodie.write.concurrency.mode": "optimistic_concurrency_control",
    "hoodie.write.lock.provider": "org.apache.hudi.client.transaction.lock.InProcessLockProvider",
    "hoodie.clean.failed.writes.policy": "LAZY",
}


def hudi_options(table: TableDef, checkpoint: dict[str, Any] | None = None, run_id: str | None = None,
                 parallelism: int = 2, async_clustering: bool = False, insert: bool = False,
                 state: dict[str, str] | None = None) -> dict[str, str]:
    """Options for an idempotent upsert of ``table``; ``checkpoint`` goes into the commit's extra metadata.
    ``async_clustering``: another thread clusters the table (:data:`ASYNC_CLUSTERING`), not this writer.
    ``insert``: the caller made sure no row of the batch has a key the table holds (dense ids dropped, or
    every key above the committed marks), so the write is a plain insert: no index lookup. ``state``: more
    bronze metadata (:data:`ID_RANGES_KEY`, :data:`KEY_MARKS_KEY`) committed with the rows."""
    opts = {
        "hoodie.table.name": f"bronze_{table.name}",
        "hoodie.datasource.write.table.type": "COPY_ON_WRITE",
        "hoodie.datasource.write.operation": "upsert",
        "hoodie.datasource.write.recordkey.field": ",".join(table.record_key),
        "hoodie.datasource.write.partitionpath.field": ",".join(table.partition),
        "hoodie.datasource.write.precombine.field": table.precombine,
        "hoodie.datasource.write.keygenerator.class": "org.apache.hudi.keygen.ComplexKeyGenerator",
        "hoodie.datasource.write.hive_style_partitioning": "true",
        "hoodie.combine.before.upsert": "true",  # duplicates inside one batch collapse too
        **WRITE_TUNING,
        "hoodie.upsert.shuffle.parallelism": str(parallelism),
        "hoodie.insert.shuffle.parallelism": str(parallelism),
        "hoodie.bulkinsert.shuffle.parallelism": str(parallelism),
        "hoodie.datasource.write.commitmeta.key.prefix": COMMIT_META_PREFIX,
        **FILE_SIZING,
        **(ASYNC_CLUSTERING if async_clustering else {}),
    }
    opts.update(commit_metadata(checkpoint, run_id, state))
    if not (table.dense_id or table.rising_key):
        # upserted through the index (klines): each commit looks up the key range of every file of the day's
        # partition, so merge them sooner (2 MB of klines a symbol a day: a cheap rewrite)
        opts["hoodie.clustering.inline.max.commits"] = str(UPSERT_CLUSTER_EVERY)
    if insert:
        opts["hoodie.datasource.write.operation"] = "insert"
        opts["hoodie.combine.before.insert"] = "true"   # a key twice in one batch is still written once
    return opts


def commit_metadata(checkpoint: dict[str, Any] | None = None, run_id: str | None = None,
                    state: dict[str, str] | None = None) -> dict[str, str]:
    """The bronze entries of a commit's extra metadata: the Kafka checkpoint, more commit state
    (:data:`ID_RANGES_KEY`, :data:`KEY_MARKS_KEY`) and the Dagster run that wrote it."""
    meta: dict[str, str] = {}
    if checkpoint is not None:
        meta[CHECKPOINT_KEY] = json.dumps(checkpoint, sort_keys=True)
    for key, value in (state or {}).items():
        if key not in STATE_KEYS[1:]:
            raise KeyError(f"{key!r} is not bronze commit state; known: {STATE_KEYS[1:]}")
        meta[key] = value
    if run_id:
        meta[RUN_ID_KEY] = run_id
    return meta


def clustering_options() -> dict[str, str]:
    """Options of a clustering write client working beside the table's writer (the table's own keys and
    schema come from its hoodie.properties and timeline)."""
    return {**WRITE_TUNING, **FILE_SIZING, **ASYNC_CLUSTERING}


def table_exists(spark, path: str) -> bool:
    jvm = spark._jvm
    p = jvm.org.apache.hadoop.fs.Path(path + "/.hoodie/hoodie.properties")
    return p.getFileSystem(spark._jsc.hadoopConfiguration()).exists(p)


class UnreadableTableError(RuntimeError):
    """A table's ``.hoodie`` has lost its properties but still holds completed instants."""


def clear_unborn_table(spark, path: str) -> bool:
    """Delete a table whose creation stopped part-way, so the next write creates it afresh; True when one was.

    Hudi creates a table by making ``.hoodie`` and then writing ``hoodie.properties``. A writer stopped in
    between (killed, its jars gone, S3 down) leaves a folder that every later write takes for a table and
    fails to load. Such a table never completed an instant, so no reader ever saw a row of it and deleting
    it loses nothing. A ``.hoodie`` without properties that *does* hold completed instants has data: it is
    never deleted here, the error says what to restore."""
    jvm = spark._jvm
    Path = jvm.org.apache.hadoop.fs.Path
    meta = Path(path + "/.hoodie")
    fs = meta.getFileSystem(spark._jsc.hadoopConfiguration())
    if any(fs.exists(Path(meta, n)) for n in ("hoodie.properties", "hoodie.properties.backup")) or not fs.exists(meta):
        return False
    completed = []
    for folder in (Path(meta, "timeline"), meta):  # Hudi 1.x keeps the active timeline in .hoodie/timeline
        names = [st.getPath().getName() for st in fs.listStatus(folder) if st.isFile()] if fs.exists(folder) else []
        completed += [n for n in names if n[:1].isdigit() and not n.endswith(PENDING_SUFFIXES)]
    if completed:
        raise UnreadableTableError(
            f"{path}: .hoodie/hoodie.properties is missing but the timeline holds {len(completed)} completed "
            f"instant(s) (newest {max(completed)}), so the table has data and is not re-created; restore "
            f"hoodie.properties from a backup or move the table away")
    log.warning("%s: the table's creation stopped part-way earlier (.hoodie without hoodie.properties, no "
                "completed instant); deleting it so this write creates it afresh", path)
    fs.delete(Path(path), True)
    return True


def append_rows(df, opts: dict[str, str], path: str) -> None:
    """Write ``df`` to the Hudi table at ``path`` through the datasource (creating it on the first write)."""
    clear_unborn_table(df.sparkSession, path)
    df.write.format("hudi").options(**opts).mode("append").save(path)


def read_checkpoint(spark, path: str, max_instants: int = 200) -> dict[str, Any] | None:
    """The checkpoint of the newest completed commit that carries one (clustering/clean instants carry
    none and are skipped); None when the table does not exist or never committed a checkpoint."""
    return checkpoint_of(read_commit_state(spark, path, max_instants))


def checkpoint_of(state: dict[str, str] | None) -> dict[str, Any] | None:
    """The Kafka checkpoint in a commit state from :func:`read_commit_state`."""
    return json.loads(state[CHECKPOINT_KEY]) if state else None


def completed_commits(spark, path: str):
    """The table's timeline of completed commits (Java ``HoodieTimeline``; commits, replacecommits)."""
    jvm = spark._jvm
    conf = jvm.org.apache.hudi.hadoop.fs.HadoopFSUtils.getStorageConfWithCopy(spark._jsc.hadoopConfiguration())
    meta = jvm.org.apache.hudi.common.table.HoodieTableMetaClient.builder().setConf(conf).setBasePath(path).build()
    return meta.getActiveTimeline().getCommitsTimeline().filterCompletedInstants()


def read_commit_state(spark, path: str, max_instants: int = 200) -> dict[str, str] | None:
    """The bronze metadata (checkpoint, id ranges, key marks) of the newest completed commit carrying a checkpoint."""
    if not table_exists(spark, path):
        return None
    timeline = completed_commits(spark, path)
    instants = list(timeline.getInstants())
    for instant in reversed(instants[-max_instants:]):
        extra = timeline.readCommitMetadata(instant).getExtraMetadata()
        if extra.get(CHECKPOINT_KEY):
            return {k: extra.get(k) for k in STATE_KEYS if extra.get(k)}
    return None
