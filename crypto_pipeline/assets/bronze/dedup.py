"""Drop the rows of a dense-id table (trades, agg trades) whose id the table already holds, before an
``insert`` write (see :mod:`crypto_pipeline.lakehouse.id_ranges` for why not an upsert).

The committed ranges come from the newest commit; a table written before ranges were kept has them
rebuilt once from its rows (gaps-and-islands over symbol, id)."""
from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from crypto_pipeline.lakehouse import id_ranges as ids
from crypto_pipeline.lakehouse.hudi import ID_RANGES_KEY, table_exists
from crypto_pipeline.lakehouse.tables import TableDef

log = logging.getLogger(__name__)


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
