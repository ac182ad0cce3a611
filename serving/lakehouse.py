"""The lakehouse half of the serving sync: what changed in a Hudi table since the completion time recorded in
`sync_state`, read with Spark and handed to serving.upsert.sync_table (one PostgreSQL transaction).

* Incremental: Hudi incremental queries over completion times (begin exclusive, end inclusive), as silver
  reads bronze; the end consumed is written to `sync_state` in the same transaction as the rows.
* Candles = silver ohlcv joined with silver indicators: a key changed in either table is re-read from both
  snapshots (only the partitions holding changed keys), so a candle and its indicators arrive together.
* Gold tables are synced generically: the serving table's columns come from PostgreSQL, the rows from the
  Hudi table with the same column names. Sparse tables (signals, anomalies) lose rows when a restatement
  un-flags them (Hudi deletes them; incremental queries do not return deletes), so for those every
  partition the new commits touched is reconciled: rows PostgreSQL has there but Hudi no longer has go.
"""
from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import psycopg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crypto_pipeline.silver import hudi
from crypto_pipeline.silver.tables import INDICATORS, OHLCV, silver_path
from serving.upsert import Deletes, SyncResult, sync_table, synced_commit, table_shape

CANDLES = "candles"
CANDLES_INDICATORS_STATE = "candles:indicators"  # sync_state row of the indicators side of candles
SERIES_KEY = ("symbol", "interval", "open_time_ms")
UNKNOWN_SOURCE = "unknown"  # silver rows written before candles carried their trades' source


@dataclass(frozen=True)
class GoldTable:
    lake: str            # table under s3a://<bucket>/gold/
    sparse: bool = False  # rows may disappear on restatement (reconcile deletes)

    @property
    def serving(self) -> str:
        return f"gold_{self.lake}"


#: contract: docs/contracts-gold-serving.md (the gold helper's crypto_pipeline/gold/tables.py: SPARSE)
GOLD_TABLES = (GoldTable("risk"), GoldTable("correlation"), GoldTable("portfolio"), GoldTable("portfolio_positions"),
               GoldTable("signals", sparse=True), GoldTable("anomalies", sparse=True))


def gold_lake_path(bucket: str, table: str) -> str:
    return f"s3a://{bucket}/gold/{table}"


def _select(df: DataFrame, columns: list[str]) -> DataFrame:
    if "_hoodie_is_deleted" in df.columns:  # soft-delete markers never reach serving
        df = df.filter(~F.coalesce(F.col("_hoodie_is_deleted"), F.lit(False)))
    return df.select(*columns)


# ---- touched partitions -> scopes ------------------------------------------------------------------


def touched_partitions(spark: SparkSession, path: str, begin: str | None, end: str) -> set[str]:
    """Partition paths written (upserts or deletes) by commits completed in (begin, end]."""
    jvm = spark._jvm
    conf = jvm.org.apache.hudi.storage.hadoop.HadoopStorageConfiguration(spark._jsc.hadoopConfiguration())
    mc = jvm.org.apache.hudi.common.table.HoodieTableMetaClient.builder().setConf(conf).setBasePath(path).build()
    tl = mc.getActiveTimeline().getCommitsTimeline().filterCompletedInstants()
    out: set[str] = set()
    for inst in tl.getInstants():
        done = inst.getCompletionTime()
        if (begin is None or done > begin) and done <= end:
            out.update(str(p) for p in tl.readCommitMetadata(inst).getPartitionToWriteStats().keySet())
    return out


def _period_range(value: str) -> tuple[int, int] | None:
    """`period` partition value (UTC day or month, as silver and gold partition) -> open_time_ms [lo, hi)."""
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            lo = calendar.timegm(d.timetuple()) * 1000
            return lo, lo + 86_400_000
        if len(value) == 7:
            y, m = int(value[:4]), int(value[5:])
            lo = calendar.timegm((y, m, 1, 0, 0, 0))
            hi = calendar.timegm((y + (m == 12), m % 12 + 1, 1, 0, 0, 0))
            return lo * 1000, hi * 1000
    except ValueError:
        return None
    return None


def partition_scope(partition: str, pg_columns: tuple[str, ...]) -> tuple[dict, dict] | None:
    """(PostgreSQL scope, lakehouse filter) of a hive-style partition path, or None when a segment cannot
    be expressed on both sides (then the caller reconciles the whole table)."""
    pg, lake = {}, {}
    for seg in filter(None, partition.split("/")):
        if "=" not in seg:
            return None
        k, v = seg.split("=", 1)
        if k == "period" and (rng := _period_range(v)) is not None:
            pg["open_time_ms"], lake[k] = rng, v
        elif k in pg_columns:
            pg[k], lake[k] = v, v
        else:
            return None
    return pg, lake


def _deletes(spark: SparkSession, path: str, key: tuple[str, ...], pg_columns: tuple[str, ...],
             begin: str | None, end: str) -> Deletes:
    parts = touched_partitions(spark, path, begin, end)
    scopes = [partition_scope(p, pg_columns) for p in sorted(parts)]
    snap = hudi.read_snapshot(spark, path)
    if not parts:
        return Deletes(scopes=[], keys=[])
    if any(s is None for s in scopes):  # not hive-style: the whole table is the scope
        return Deletes(scopes=[{}], keys=_select(snap, list(key)).toLocalIterator())
    cond = F.lit(False)
    for _, lake in scopes:
        term = F.lit(True)
        for k, v in lake.items():
            term = term & (F.col(k) == v)
        cond = cond | term
    return Deletes(scopes=[pg for pg, _ in scopes], keys=_select(snap.filter(cond), list(key)).toLocalIterator())


# ---- syncs ---------------------------------------------------------------------------------------


def sync_gold_table(spark: SparkSession, conn: psycopg.Connection, path: str, table: GoldTable,
                    before_commit: Callable[[], None] | None = None) -> SyncResult | None:
    """Sync one gold Hudi table into `gold_<name>`; None when there is no new commit (nothing written)."""
    begin = synced_commit(conn, table.serving)
    end = hudi.latest_completion_time(spark, path)
    if end is None or end == begin:
        return None
    shape = table_shape(conn, table.serving)
    inc = hudi.read_incremental(spark, path, begin, end)
    columns = [c for c in shape.columns if c in inc.columns]
    deletes = _deletes(spark, path, shape.key, shape.columns, begin, end) if table.sparse else None
    return sync_table(conn, table.serving, columns, _select(inc, columns).toLocalIterator(), {table.serving: end},
                      deletes, before_commit)


def _partition_filter(parts: list) -> F.Column:
    cond = F.lit(False)
    for sym, iv, period in parts:
        cond = cond | ((F.col("symbol") == sym) & (F.col("interval") == iv) & (F.col("period") == period))
    return cond


def candle_rows(spark: SparkSession, ohlcv: str, indicators: str, b_ohlcv: str | None, e_ohlcv: str,
                b_ind: str | None, e_ind: str | None, columns: tuple[str, ...]) -> DataFrame:
    """Rows of every candle whose ohlcv or indicators changed in the given commit ranges."""
    o = hudi.read_snapshot(spark, ohlcv)
    if "source" not in o.columns:
        o = o.withColumn("source", F.lit(None).cast("string"))
    has_ind = e_ind is not None
    i = hudi.read_snapshot(spark, indicators) if has_ind else None
    if b_ohlcv is not None:  # incremental: only the keys (and their partitions) that changed
        parts = []
        if e_ohlcv != b_ohlcv:
            parts.append(hudi.read_incremental(spark, ohlcv, b_ohlcv, e_ohlcv).select(*SERIES_KEY, "period"))
        if has_ind and e_ind != b_ind:
            parts.append(hudi.read_incremental(spark, indicators, b_ind, e_ind).select(*SERIES_KEY, "period"))
        changed = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
        changed = changed.distinct()
        cond = _partition_filter([tuple(r) for r in changed.select("symbol", "interval", "period").distinct().collect()])
        o = o.filter(cond).join(changed.drop("period"), list(SERIES_KEY), "left_semi")
        if has_ind:
            i = i.filter(cond)
    o = o.withColumn("source", F.coalesce(F.col("source"), F.lit(UNKNOWN_SOURCE)))
    if has_ind:
        ind_cols = [c for c in columns if c in i.columns and c not in o.columns]
        i = i.select(*SERIES_KEY, *ind_cols, F.col("updated_at_ms").alias("_ind_updated_at_ms"))
        o = (o.join(i, list(SERIES_KEY), "left")
             .withColumn("updated_at_ms", F.greatest("updated_at_ms", F.coalesce("_ind_updated_at_ms", F.lit(0)))))
    for c in columns:  # indicator columns before the first indicators commit
        if c not in o.columns:
            o = o.withColumn(c, F.lit(None).cast("double"))
    return o.select(*columns)


def silver_paths(bucket: str) -> tuple[str, str]:
    return silver_path(bucket, OHLCV), silver_path(bucket, INDICATORS)


def sync_candles(spark: SparkSession, conn: psycopg.Connection, ohlcv: str, indicators: str,
                 before_commit: Callable[[], None] | None = None) -> SyncResult | None:
    """Sync silver ohlcv + indicators into `candles`; None when neither table has a new commit."""
    b_o, b_i = synced_commit(conn, CANDLES), synced_commit(conn, CANDLES_INDICATORS_STATE)
    e_o, e_i = hudi.latest_completion_time(spark, ohlcv), hudi.latest_completion_time(spark, indicators)
    if e_o is None or (e_o == b_o and e_i == b_i):
        return None
    columns = table_shape(conn, CANDLES).columns
    if b_o is None:
        b_i = None  # first sync: everything, from full snapshots
    rows = candle_rows(spark, ohlcv, indicators, b_o, e_o, b_i, e_i, columns)
    return sync_table(conn, CANDLES, columns, rows.toLocalIterator(),
                      {CANDLES: e_o, CANDLES_INDICATORS_STATE: e_i}, None, before_commit)
