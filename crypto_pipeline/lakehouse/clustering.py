"""Clustering a bronze table from another thread than its writer (the bronze stream's slow loop clusters
the fast loop's tables), so the rewrite of a day's small files never sits inside a trade commit.

Why Hudi's ``run_clustering`` procedure: it schedules a plan over the files committed so far and executes
it with the table's own write client, under the same optimistic-concurrency options as the writer
(:data:`crypto_pipeline.lakehouse.hudi.ASYNC_CLUSTERING`), so either side's commit checks the other's."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from crypto_pipeline.lakehouse.hudi import MB, clustering_options
from crypto_pipeline.lakehouse.tables import TableDef

log = logging.getLogger(__name__)

# A write that lost a race with the other writer of the table: nothing was committed (the checkpoint did
# not move), so running the same cycle again is exactly-once. Anything else is a real failure.
WRITE_CONFLICTS = ("HoodieWriteConflictException", "HoodieClusteringUpdateException")

# The clustering thread shares the stream's few task slots and cores: one clustering group at a time
# leaves a slot to the writer it runs beside, and only files under 8 MB are merged (the inline 32 MB would
# rewrite the day's growing file, up to 32 MB per symbol, on every pass: ~45 s of a core in the stack).
# A day of trades then ends in files of 8-64 MB, a handful per symbol.
THROTTLE = {"hoodie.clustering.max.parallelism": "1", "hoodie.clustering.group.read.parallelism": "1",
            "hoodie.clustering.plan.strategy.small.file.limit": str(8 * MB)}


@dataclass(frozen=True)
class ClusteringResult:
    table: str
    instants: tuple[str, ...]   # replacecommits this call completed (empty: nothing small enough to merge)
    groups: int                 # file groups merged (clustering input groups)
    seconds: float


def is_write_conflict(exc: BaseException) -> bool:
    """True when ``exc`` (a Py4J error from a Hudi write or clustering) is a lost concurrency race."""
    text = str(exc)
    return any(name in text for name in WRITE_CONFLICTS)


def cluster_table(spark, table: TableDef, path: str, op: str = "scheduleAndExecute") -> ClusteringResult:
    """Schedule a clustering plan for ``table`` at ``path`` and execute it together with any plan an
    earlier (killed) run left pending (``op``: Hudi's ``schedule``, ``execute`` or both). Raises on failure;
    :func:`is_write_conflict` tells a lost race."""
    opts = {**clustering_options(), **THROTTLE}
    bad = [k for k, v in opts.items() if "," in v or "=" in v or "'" in v]
    if bad:  # the procedure takes options as one "k=v,k=v" string
        raise ValueError(f"clustering options {bad} cannot be passed to run_clustering (',', '=' or quote in value)")
    options = ",".join(f"{k}={v}" for k, v in opts.items())
    spark.sparkContext.setJobDescription(f"bronze {table.name} clustering")
    t0 = time.monotonic()
    rows = spark.sql(f"CALL run_clustering(path => '{path}', op => '{op}', "
                     f"options => '{options}')").collect()
    done = tuple(r["timestamp"] for r in rows if r["state"] == "COMPLETED")
    res = ClusteringResult(table.name, done, sum(r["input_group_size"] or 0 for r in rows if r["state"] == "COMPLETED"),
                           time.monotonic() - t0)
    log.info("bronze %s clustering: %d plan(s) completed, %d group(s), %.1fs", table.name, len(done), res.groups, res.seconds)
    return res
