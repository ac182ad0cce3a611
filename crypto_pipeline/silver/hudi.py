"""Hudi plumbing for silver: table options, the timeline (through Hudi's own meta client over py4j),
incremental reads and checkpoints kept in commit metadata.

Why commit metadata: the checkpoint (the last bronze commit a silver commit has consumed) then lands in
the same atomic commit as the data it produced - a crash between "write data" and "save checkpoint"
cannot happen. Hudi 1.x incremental queries range over *completion* times (begin exclusive, end
inclusive), so the checkpoint is a completion time: a bronze commit that started earlier but finished
later is still picked up by the next run."""
from __future__ import annotations

import json

from pyspark.sql import DataFrame, SparkSession

META_PREFIX = "silver."
CHECKPOINT_KEY = META_PREFIX + "checkpoint"


def write_options(table: str, record_key: str, partition_fields: str, precombine: str,
                  checkpoint: dict | None = None, parallelism: int = 2, prefix: str = META_PREFIX,
                  extra: dict[str, object] | None = None) -> dict[str, str]:
    """Upsert options for a silver (or gold: ``prefix`` "gold.") COW table; the checkpoint (if any) and
    ``extra`` (JSON values, keys without the prefix) go into the commit metadata."""
    opts = {
        "hoodie.table.name": table,
        "hoodie.datasource.write.recordkey.field": record_key,
        "hoodie.datasource.write.partitionpath.field": partition_fields,
        "hoodie.datasource.write.precombine.field": precombine,
        "hoodie.datasource.write.keygenerator.class": "org.apache.hudi.keygen.ComplexKeyGenerator",
        "hoodie.datasource.write.hive_style_partitioning": "true",
        "hoodie.datasource.write.operation": "upsert",
        "hoodie.datasource.write.table.type": "COPY_ON_WRITE",
        "hoodie.index.type": "SIMPLE",  # keys -> files by joining only the touched partitions' keys
        "hoodie.upsert.shuffle.parallelism": str(parallelism),
        "hoodie.insert.shuffle.parallelism": str(parallelism),
        "hoodie.simple.index.parallelism": str(parallelism),
        "hoodie.datasource.write.commitmeta.key.prefix": prefix,
        "hoodie.allow.empty.commit": "true",
        # silver tables are small and rewritten per day/month partition: the metadata table's extra
        # write stages per commit cost more than the listing they save
        "hoodie.metadata.enable": "false",  # a run with no changed rows still advances its checkpoint
    }
    if checkpoint is not None:
        opts[prefix + "checkpoint"] = json.dumps(checkpoint, sort_keys=True)
    for key, value in (extra or {}).items():
        opts[prefix + key] = json.dumps(value, sort_keys=True)
    return opts


def table_exists(spark: SparkSession, path: str) -> bool:
    jvm = spark._jvm
    p = jvm.org.apache.hadoop.fs.Path(path.rstrip("/") + "/.hoodie/hoodie.properties")
    return p.getFileSystem(spark._jsc.hadoopConfiguration()).exists(p)


def _completed_commits(spark: SparkSession, path: str) -> list:
    """Completed commit instants, oldest to newest by completion time."""
    jvm = spark._jvm
    conf = jvm.org.apache.hudi.storage.hadoop.HadoopStorageConfiguration(spark._jsc.hadoopConfiguration())
    mc = jvm.org.apache.hudi.common.table.HoodieTableMetaClient.builder().setConf(conf).setBasePath(path).build()
    tl = mc.getActiveTimeline().getCommitsTimeline().filterCompletedInstants()
    instants = list(tl.getInstants())
    instants.sort(key=lambda i: i.getCompletionTime())
    return [tl, instants]


def newest_commit(spark: SparkSession, path: str) -> tuple[str, str] | None:
    """(requested time, completion time) of the newest completed commit, or None (no table or no commit yet).
    The requested time is the ``_hoodie_commit_time`` of the rows that commit wrote."""
    if not table_exists(spark, path):
        return None
    _, instants = _completed_commits(spark, path)
    return (instants[-1].requestedTime(), instants[-1].getCompletionTime()) if instants else None


def latest_completion_time(spark: SparkSession, path: str) -> str | None:
    """Completion time of the newest completed commit, or None (no table or no commit yet)."""
    newest = newest_commit(spark, path)
    return newest[1] if newest else None


def read_checkpoint(spark: SparkSession, path: str, lookback: int = 50, prefix: str = META_PREFIX) -> dict | None:
    """The checkpoint stored with the newest completed commit that has one."""
    if not table_exists(spark, path):
        return None
    key = prefix + "checkpoint"
    tl, instants = _completed_commits(spark, path)
    for inst in reversed(instants[-lookback:]):
        extra = tl.readCommitMetadata(inst).getExtraMetadata()
        if extra is not None and extra.containsKey(key):
            return json.loads(extra.get(key))
    return None


def pending_commits(spark: SparkSession, own_path: str, upstream_path: str, key: str) -> tuple[dict, str | None, str | None]:
    """(own checkpoint, begin, end): the upstream completion-time range this table has not consumed yet,
    ``begin`` from the own table's checkpoint under ``key``; ``end`` is None or equals ``begin`` when there
    is nothing new (the caller's run is a no-op)."""
    ckpt = read_checkpoint(spark, own_path) or {}
    return ckpt, ckpt.get(key), latest_completion_time(spark, upstream_path)


def read_incremental(spark: SparkSession, path: str, begin: str | None, end: str) -> DataFrame:
    """Records written by commits completed in (begin, end]; begin None = from the table's start
    (falls back to a full scan if early commits were archived)."""
    return (spark.read.format("hudi")
            .option("hoodie.datasource.query.type", "incremental")
            .option("hoodie.datasource.read.begin.instanttime", begin or "000")
            .option("hoodie.datasource.read.end.instanttime", end)
            .option("hoodie.datasource.read.incr.fallback.fulltablescan.enable", "true")
            .load(path))


def read_snapshot(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("hudi").load(path)
