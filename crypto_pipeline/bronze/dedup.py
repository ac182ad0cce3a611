"""Decide, before a bronze write, whether it can be a Hudi ``insert`` (no index lookup) and still leave
one row per record key:

- a dense-id table (trades, agg trades) drops the rows whose id it already holds and inserts the rest
  (:mod:`crypto_pipeline.lakehouse.id_ranges`);
- a rising-key table (tickers, depth, book ticker, the quarantine) inserts a batch lying wholly above its
  committed marks and upserts any other (:mod:`crypto_pipeline.lakehouse.key_marks`);
- klines are upserted (an open kline is rewritten until it closes).

The ranges and marks come from the newest commit; a table written before they were kept has them rebuilt
once from its rows."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from crypto_pipeline.lakehouse import id_ranges as ids
from crypto_pipeline.lakehouse import key_marks as km
from crypto_pipeline.lakehouse.hudi import ID_RANGES_KEY, KEY_MARKS_KEY, table_exists
from crypto_pipeline.lakehouse.tables import TableDef

log = logging.getLogger(__name__)


@dataclass
class WritePlan:
    df: DataFrame | None            # the rows to write (None: staged in a Java writer from raw records)
    insert: bool = False            # no row's key is in the table: a plain insert
    state: dict[str, str] = field(default_factory=dict)   # committed with the rows (id ranges, key marks)
    dropped: int = 0                # rows whose id the table already held (dense-id tables)


def plan_write(spark: SparkSession, path: str, table: TableDef, df: DataFrame, state: dict[str, str] | None) -> WritePlan:
    """How to write ``df`` into ``table`` (whose newest commit state is ``state``) without doubling a key."""
    if table.dense_id:
        kept, ranges, dropped = drop_committed(df, table, committed_ranges(spark, path, table, state))
        return WritePlan(kept, True, {ID_RANGES_KEY: ids.encode(ranges)}, dropped)
    if table.rising_key:
        above, marks = check_marks(df, table, committed_marks(spark, path, table, state))
        if not above:
            log.info("bronze %s: the batch reaches back to committed keys (replay, duplicate or late event): upsert",
                     table.name)
        return WritePlan(df, above, {KEY_MARKS_KEY: km.encode(marks)})
    return WritePlan(df)


def committed_marks(spark: SparkSession, path: str, table: TableDef, state: dict[str, str] | None) -> km.Marks:
    """The largest committed key per group of ``table``: from its newest commit, else rebuilt from its rows."""
    if state is not None and (kept := km.decode(state.get(KEY_MARKS_KEY))) is not None:
        return kept
    if not table_exists(spark, path):
        return {}
    log.info("bronze %s: rebuilding committed key marks from the table (once; later commits carry them)", table.name)
    rising = table.record_key[-1]
    rows = spark.read.format("hudi").load(path).groupBy(*table.key_groups).agg(F.max(rising).alias("hi")).collect()
    return {km.group_of(r[c] for c in table.key_groups): int(r["hi"]) for r in rows}


def check_marks(df: DataFrame, table: TableDef, marks: km.Marks) -> tuple[bool, km.Marks]:
    """Whether ``df`` lies wholly above ``marks`` (then no key of it is committed), and the marks after it."""
    rising = table.record_key[-1]
    rows = df.groupBy(*table.key_groups).agg(F.min(rising).alias("lo"), F.max(rising).alias("hi")).collect()
    rows = [r for r in rows if r["lo"] is not None]   # a null key is refused by Hudi itself
    lo = {km.group_of(r[c] for c in table.key_groups): int(r["lo"]) for r in rows}
    hi = {km.group_of(r[c] for c in table.key_groups): int(r["hi"]) for r in rows}
    return km.all_above(marks, lo), km.merge(marks, hi)


def committed_ranges(spark: SparkSession, path: str, table: TableDef, state: dict[str, str] | None) -> ids.Ranges:
    """The ids ``table`` holds: from its newest commit, else rebuilt from its rows (empty for a new table)."""
    if state is not None and (kept := ids.decode(state.get(ID_RANGES_KEY))) is not None:
        return kept
    if not table_exists(spark, path):
        return {}
    rows = spark.read.format("hudi").load(path)
    log.info("bronze %s: rebuilding committed id ranges from the table (once; later commits carry them)", table.name)
    col = table.dense_id
    island = F.col(col) - F.row_number().over(Window.partitionBy("symbol").orderBy(col))
    spans = (rows.select("symbol", col).distinct().withColumn("island", island)
             .groupBy("symbol", "island").agg(F.min(col).alias("lo"), F.max(col).alias("hi")).collect())
    out: ids.Ranges = {}
    for r in sorted(spans, key=lambda r: (r["symbol"], r["lo"])):
        out.setdefault(r["symbol"], []).append((int(r["lo"]), int(r["hi"])))
    return out


def drop_committed(df: DataFrame, table: TableDef, ranges: ids.Ranges) -> tuple[DataFrame, ids.Ranges, int]:
    """``df`` without the ids ``ranges`` already hold, the ranges after writing it, and how many rows were
    dropped. The batch's ids are collected (two columns; a cycle holds hundreds to a few hundred thousand)."""
    col = table.dense_id
    batch: dict[str, list[int]] = {}
    for r in df.select("symbol", col).collect():
        batch.setdefault(r["symbol"], []).append(int(r[col]))
    dup_spans: list[tuple[str, int, int]] = []
    dropped = 0
    for symbol, got in batch.items():
        seen = ids.overlapping(ranges, symbol, min(got), max(got))
        if seen:
            n = sum(1 for i in got if any(lo <= i <= hi for lo, hi in seen))
            if n:
                dropped += n
                dup_spans += [(symbol, lo, hi) for lo, hi in seen]
    if dropped:
        known = F.lit(False)
        for symbol, lo, hi in dup_spans:
            known = known | ((F.col("symbol") == symbol) & F.col(col).between(lo, hi))
        df = df.where(~known)
        log.warning("bronze %s: %d row(s) with ids already committed dropped (replay or duplicate)", table.name, dropped)
    return df, ids.merge(ranges, batch), dropped
