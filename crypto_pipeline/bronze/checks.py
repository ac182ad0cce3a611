"""Data-quality checks over the bronze tables, on the partitions written since the last evaluation (so
their cost follows the batch, not the table's age). Evaluated by a manual ``bronze_ingest`` inside its
step, and by the bronze-writer service every few minutes, which reports them to Dagster as runless check
evaluations; both use :func:`evaluate`, which returns plain results either side turns into its events."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from crypto_pipeline.lakehouse.hudi import table_exists
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, TRADES, TableDef, bronze_path

FRESHNESS_MAX_LAG_MS = 15 * 60 * 1000
KEY_CHECKED = ("trades", "klines", "agg_trades", "book_ticker")


@dataclass
class Written:
    """What one table received since the checks last ran."""
    rows: int = 0
    partitions: set[tuple] = field(default_factory=set)   # values of the table's partition columns, in order
    freshness_lag_ms: int | None = None                   # trades: commit time minus the newest trade, last commit

    def add(self, rows: int, partitions: list[dict], partition_cols: tuple[str, ...], lag_ms: int | None) -> None:
        self.rows += rows
        self.partitions |= {tuple(p[c] for c in partition_cols) for p in partitions}
        if lag_ms is not None:
            self.freshness_lag_ms = lag_ms


@dataclass(frozen=True)
class Outcome:
    asset: str
    check: str
    passed: bool
    severity: str = "ERROR"       # Dagster's AssetCheckSeverity name
    metadata: dict[str, Any] = field(default_factory=dict)


def specs() -> list[tuple[str, str, str]]:
    """(asset, check, description) of every bronze check: the assets declare them, both evaluators fill them."""
    out = [(t.asset_name, "schema_matches_contract", "stored columns and types equal crypto_pipeline/lakehouse/tables.py")
           for t in BRONZE_TABLES.values()]
    out += [(BRONZE_TABLES[n].asset_name, "record_key_unique", "no record key twice in the partitions written")
            for n in KEY_CHECKED]
    out += [(TRADES.asset_name, "trade_id_continuity", "trade ids dense per symbol in the partitions written; gaps as ranges"),
            (TRADES.asset_name, "freshness", f"newest trade younger than {FRESHNESS_MAX_LAG_MS // 60000} min at commit")]
    return out


def _age_of_newest_trade(trades: DataFrame) -> int | None:
    """Now minus the newest trade time of today's and yesterday's partitions (UTC): the freshness when no
    commit since the last evaluation carried trades (nothing arrived, or the commits are still to be reported)."""
    now_ms = int(time.time() * 1000)
    days = [time.strftime("%Y-%m-%d", time.gmtime(now_ms / 1000 - d * 86_400)) for d in (0, 1)]
    newest = trades.where(F.col("dt").isin(days)).agg(F.max("trade_time_ms")).first()[0]
    return None if newest is None else now_ms - int(newest)


def in_partitions(df: DataFrame, partition_cols: tuple[str, ...], parts: set[tuple]) -> DataFrame:
    """Rows of ``df`` in the given partitions (a filter on the partition columns, so Spark prunes the rest)."""
    conds = [reduce(lambda a, b: a & b, [F.col(c) == v for c, v in zip(partition_cols, p)]) for p in sorted(parts)]
    return df.where(reduce(lambda a, b: a | b, conds)) if conds else df.limit(0)


def evaluate(spark: SparkSession, bucket: str, written: dict[str, Written]) -> list[Outcome]:
    """Every bronze check, over what ``written`` says each table received."""
    out: list[Outcome] = []
    for name, table in BRONZE_TABLES.items():
        path = bronze_path(bucket, name)
        if not table_exists(spark, path):
            out.append(Outcome(table.asset_name, "schema_matches_contract", True, metadata={"note": "table not created yet"}))
            continue
        stored = spark.read.format("hudi").load(path)
        diff = schema_diff(stored.schema, table)
        out.append(Outcome(table.asset_name, "schema_matches_contract", not diff["missing"] and not diff["wrong_type"],
                           metadata=dict(diff)))
        w = written.get(name, Written())
        recent = in_partitions(stored, table.partition, w.partitions) if w.rows else None
        if name in KEY_CHECKED:
            n_dup, sample = (0, []) if recent is None else duplicate_keys(recent, table.record_key)
            out.append(Outcome(table.asset_name, "record_key_unique", n_dup == 0,
                               metadata={"duplicate_keys": n_dup, "sample": sample, "rows_checked_since_last": w.rows}))
        if name == TRADES.name:
            gaps = [] if recent is None else trade_id_gaps(recent)
            out.append(Outcome(table.asset_name, "trade_id_continuity", not gaps, "WARN",
                               {"gap_count": len(gaps), "missing_trade_ids": sum(g["missing"] for g in gaps),
                                "gaps": format_ranges(gaps)}))
            lag = w.freshness_lag_ms if w.freshness_lag_ms is not None else _age_of_newest_trade(stored)
            out.append(Outcome(table.asset_name, "freshness", lag is not None and lag <= FRESHNESS_MAX_LAG_MS, "WARN",
                               {"lag_ms": lag if lag is not None else -1}))
    return out


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
