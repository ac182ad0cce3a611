"""Data-quality checks over the bronze tables (run inside the ingest step on its Spark session, on the
partitions the run touched, so their cost follows the batch and not the table's age)."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from crypto_pipeline.lakehouse.tables import TableDef


def touched(table_df: DataFrame, batch: DataFrame, partition_cols: tuple[str, ...]) -> DataFrame:
    """Rows of the table in the (symbol, dt) partitions the batch wrote."""
    parts = batch.select(*partition_cols).distinct()
    return table_df.join(F.broadcast(parts), list(partition_cols), "left_semi")


def duplicate_keys(df: DataFrame, key: tuple[str, ...], limit: int = 20) -> tuple[int, list[dict]]:
    dups = df.groupBy(*key).count().where("count > 1")
    sample = [r.asDict() for r in dups.limit(limit).collect()]
    return (dups.count() if sample else 0), sample


def trade_id_gaps(trades: DataFrame, limit: int = 50) -> list[dict]:
    """Missing trade-id ranges per symbol (trade ids are dense per symbol): [{symbol, from, to, missing}]."""
    w = Window.partitionBy("symbol").orderBy("trade_id")
    gaps = (trades.select("symbol", "trade_id").withColumn("prev", F.lag("trade_id").over(w))
            .where(F.col("trade_id") > F.col("prev") + 1)
            .select("symbol", (F.col("prev") + 1).alias("from"), (F.col("trade_id") - 1).alias("to"))
            .withColumn("missing", F.col("to") - F.col("from") + 1).orderBy("symbol", "from"))
    return [r.asDict() for r in gaps.limit(limit).collect()]


def schema_diff(actual, table: TableDef) -> dict[str, list[str]]:
    """Contract columns missing or typed differently in the stored table (Hudi meta columns ignored)."""
    got = {f.name: f.dataType.simpleString() for f in actual.fields}
    missing = [f.name for f in table.schema.fields if f.name not in got]
    wrong = [f"{f.name}: {got[f.name]} != {f.dataType.simpleString()}" for f in table.schema.fields
             if f.name in got and got[f.name] != f.dataType.simpleString()]
    return {"missing": missing, "wrong_type": wrong}


def format_ranges(gaps: list[dict]) -> str:
    return ", ".join(f"{g['symbol']} {g['from']}..{g['to']}" for g in gaps) or "none"
