"""Lake side of gold: what changed in silver, the tails of the series a run needs, and writing only the gold
rows that differ from what the table holds (with the checkpoint in the same commit).

Reads go through crypto_pipeline/lakehouse/files.py (Hudi's file view + pyarrow, partition-pruned, no Spark job):
a run needs, per series, the bars it restates plus a window of history (about a day of 1m bars), which is
small; a full build reads whole series once. Writes are Hudi commits through Spark."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crypto_pipeline.lakehouse.files import LakeFiles
from crypto_pipeline.gold.tables import DELETED, KEYS, PARTITIONS, PRECOMBINE, SPARSE, VALUES, spark_schema
from crypto_pipeline.lakehouse.hudi import append_rows
from crypto_pipeline.silver import hudi
from crypto_pipeline.silver.candles import period_col
from crypto_pipeline.silver.intervals import DAILY_PARTITIONED

META_PREFIX = "gold."
#: every series from its first bar
ORIGIN = -(2**62)
SILVER_PARTITIONS = ("symbol", "interval", "period")
#: small commits every few minutes (as bronze measured): no embedded timeline server, direct markers, and
#: cleaning planned every 20 commits instead of after each one (a listing per commit). The rows of a commit are
#: unique per key (computed per key; deletes are keys no longer computed), so Hudi's de-duplication shuffle
#: before the write is skipped.
WRITE_TUNING = {"hoodie.embed.timeline.server": "false", "hoodie.write.markers.type": "DIRECT",
                "hoodie.clean.trigger.max.commits": "20", "hoodie.combine.before.upsert": "false",
                "hoodie.combine.before.insert": "false"}


def changed_from(spark: SparkSession, files: LakeFiles, silver: str, begin: str | None, end: str,
                 final_only: bool = True) -> dict[tuple[str, str], int]:
    """(symbol, interval) -> open time of the earliest final candle (``final_only``; silver_indicators holds
    final candles only) written by silver commits in (begin, end]; ``begin`` None: every series' first bar."""
    cols = ["symbol", "interval", "open_time_ms", *(["is_final"] if final_only else [])]
    if begin is None:
        rows = files.snapshot(silver, SILVER_PARTITIONS, lambda _: True, cols)
    else:
        rows = files.increment(silver, begin, end, cols)
    if rows is None:  # Hudi's incremental query decides (archived commits, cleaned files, clustering)
        df = hudi.read_incremental(spark, silver, begin, end)
        got = ((df.filter("is_final") if final_only else df)
               .groupBy("symbol", "interval").agg(F.min("open_time_ms").alias("first")).collect())
        return {(r.symbol, r.interval): r.first for r in got}
    if final_only:
        rows = rows[rows.is_final.astype(bool)]
    return {k: int(v) for k, v in rows.groupby(["symbol", "interval"]).open_time_ms.min().items()}


def period_from(interval: str, start_ms: int) -> str:
    """The ``period`` partition value (UTC day for 1m/5m/15m, month otherwise) holding ``start_ms``."""
    day = datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
    return day if interval in DAILY_PARTITIONED else day[:7]


def _since(starts: dict[str, int]):
    """Partition filter: intervals of ``starts``, periods holding or after each one's start."""
    lows = {iv: period_from(iv, s) if s > 0 else "" for iv, s in starts.items()}

    def keep(p: dict[str, str]) -> bool:
        iv = p.get("interval")
        if iv is None:
            return True
        return iv in lows and p.get("period", "~") >= lows[iv]
    return keep


def _tail(df: pd.DataFrame, starts: dict[str, int]) -> pd.DataFrame:
    if df.empty:
        return df
    lo = df.interval.map(starts).astype("int64")
    return df[df.open_time_ms.astype("int64") >= lo]


def read_series(files: LakeFiles, path: str, starts: dict[str, int], cols: list[str],
                final_only: bool = True) -> pd.DataFrame:
    """Rows of every symbol at each interval of ``starts`` from its start time, as pandas (doubles for the
    decimal columns), sorted by symbol, interval, open time."""
    names = ["symbol", "interval", "open_time_ms", *cols]
    if not starts:
        return pd.DataFrame(columns=names)
    out = files.snapshot(path, SILVER_PARTITIONS, _since(starts), [*names, *(["is_final"] if final_only else [])])
    out = _tail(out, starts)
    if final_only:
        out = out[out.is_final.astype(bool)]
    out = out[names].astype({c: "float64" for c in cols})
    return out.sort_values(["symbol", "interval", "open_time_ms"], ignore_index=True)


def read_existing(files: LakeFiles, path: str, table: str, starts: dict[str, int]) -> pd.DataFrame:
    """Gold rows of ``table`` at each interval of ``starts`` from its start (empty when there is no table)."""
    cols = [*KEYS[table], *VALUES[table], "period"]
    if not starts:
        return pd.DataFrame(columns=cols)
    return _tail(files.snapshot(path, PARTITIONS[table], _since(starts), cols), starts).reset_index(drop=True)


def diff(table: str, computed: pd.DataFrame, existing: pd.DataFrame, scope: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to upsert, keys to delete): computed rows that are new or differ in any value (NaN equals NaN),
    and - for the sparse tables - existing rows inside the recomputed ranges (``scope``: the series key columns
    and ``from_ms``) that the computation no longer produces."""
    keys, vals = list(KEYS[table]), list(VALUES[table])
    if existing.empty:
        return computed, existing.iloc[0:0]
    merged = computed.merge(existing[keys + vals], on=keys, how="left", suffixes=("", "_old"), indicator=True)
    same = merged["_merge"] == "both"
    for v in vals:
        a, b = merged[v], merged[f"{v}_old"]
        if a.dtype == object or b.dtype == object:
            eq = (a.astype(object) == b.astype(object)) | (a.isna() & b.isna())
        else:
            eq = (a.to_numpy(dtype=float) == b.to_numpy(dtype=float)) | (a.isna().to_numpy() & b.isna().to_numpy())
        same &= eq
    upserts = computed[~same.to_numpy()]
    if table not in SPARSE:
        return upserts, existing.iloc[0:0]
    series = [c for c in scope.columns if c != "from_ms"]
    inside = existing.merge(scope, on=series)
    inside = inside[inside.open_time_ms >= inside.from_ms]
    gone = inside.merge(computed[keys], on=keys, how="left", indicator=True)
    return upserts, gone[gone["_merge"] == "left_only"][keys]


def write(spark: SparkSession, path: str, table: str, upserts: pd.DataFrame, deletes: pd.DataFrame,
          checkpoint: dict, restated: list, stamp: int, parallelism: int = 2, all_new: bool = False) -> int:
    """One Hudi commit: the upserts, the deletes (``_hoodie_is_deleted``) and the checkpoint; NaN -> NULL.
    A first write, or one whose keys the table cannot hold yet (``all_new``: only bars after everything the
    table has computed, known from its own last commit), is an insert: no index lookup. Returns the rows written."""
    schema = spark_schema(table)
    rows = _frame(spark, upserts, schema).withColumn(DELETED, F.lit(False))
    if not deletes.empty:
        blank = (None,) * len(VALUES[table])
        dead = [tuple(v.item() if hasattr(v, "item") else v for v in k) + blank
                for k in deletes[list(KEYS[table])].itertuples(index=False)]
        rows = rows.unionByName(spark.createDataFrame(dead, schema).withColumn(DELETED, F.lit(True)))
    rows = rows.withColumn("period", period_col("open_time_ms", "interval"))
    rows = rows.withColumn(PRECOMBINE, F.lit(stamp).cast("bigint"))
    opts = hudi.write_options(f"gold_{table}", ",".join(KEYS[table]), ",".join(PARTITIONS[table]), PRECOMBINE,
                              checkpoint, parallelism, prefix=META_PREFIX, extra={"restated": restated})
    opts.update(WRITE_TUNING)
    if (all_new and deletes.empty) or not hudi.table_exists(spark, path):
        opts["hoodie.datasource.write.operation"] = "insert"
    append_rows(rows, opts, path)
    return len(upserts) + len(deletes)


def _frame(spark: SparkSession, df: pd.DataFrame, schema: str) -> DataFrame:
    """pandas -> Spark with the table's types; NaN doubles become NULL (never NaN in the tables)."""
    if df.empty:
        out = spark.createDataFrame([], schema)
    else:
        out = spark.createDataFrame(df, schema)
    doubles = [f.name for f in out.schema.fields if f.dataType.simpleString() == "double"]
    return out.select(*[F.when(~F.isnan(c), F.col(c)).alias(c) if c in doubles else F.col(c) for c in out.columns])


def as_int(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)
