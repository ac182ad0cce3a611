"""Data-quality checks over the bronze tables. Evaluated by a manual ``bronze_ingest`` inside its step,
and by the bronze-writer service every few minutes, which reports them to Dagster as runless check
evaluations; both use a :class:`Checker`, which returns plain results either side turns into its events.

Scope: a checker's first evaluation reads the partitions written (symbol and day); after that it reads
only the commits completed since its last evaluation (the key columns of the files those commits list), so
its cost follows what was written, not the age of the day's partitions (book ticker partitions grow by ~20 M rows a day). It
remembers, per key group (a symbol), the largest key it has checked: a new row at or below that key (a
backfill, a replay, a duplicate) is looked up in its partition, so key uniqueness stays exact over the
whole partition, and trade-id continuity is checked across evaluations from that key on."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from crypto_pipeline.lakehouse.files import LakeFiles
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, TRADES, TableDef, bronze_path
from crypto_pipeline.silver import hudi

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


@dataclass
class Progress:
    """How far one table has been checked: the completion time of the newest commit checked and, per key
    group, the largest value of the record key's last column checked (rising-key and dense-id tables)."""
    completion: str
    newest: dict[tuple[str, ...], int] = field(default_factory=dict)
    duplicates: list[dict] = field(default_factory=list)   # keys found twice: checked again until they are gone


class Checker:
    """Evaluates every bronze check; keeps each table's :class:`Progress` between evaluations."""

    def __init__(self) -> None:
        self.progress: dict[str, Progress] = {}
        self._files: LakeFiles | None = None

    def evaluate(self, spark: SparkSession, bucket: str, written: dict[str, Written]) -> list[Outcome]:
        """Every bronze check, over what each table received since the last evaluation (``written`` names
        the partitions and the trades' freshness; the rows are read from the tables themselves)."""
        out: list[Outcome] = []
        for name, table in BRONZE_TABLES.items():
            path = bronze_path(bucket, name)
            newest = hudi.newest_commit(spark, path)
            if newest is None:
                out.append(Outcome(table.asset_name, "schema_matches_contract", True,
                                   metadata={"note": "table not created yet"}))
                continue
            stored = spark.read.format("hudi").load(path)
            diff = schema_diff(stored.schema, table)
            out.append(Outcome(table.asset_name, "schema_matches_contract", not diff["missing"] and not diff["wrong_type"],
                               metadata=dict(diff)))
            w = written.get(name, Written())
            if name in KEY_CHECKED:
                out += self._keys(spark, path, table, stored, w, newest)
            if name == TRADES.name:
                lag = w.freshness_lag_ms if w.freshness_lag_ms is not None else _age_of_newest_trade(stored)
                out.append(Outcome(table.asset_name, "freshness", lag is not None and lag <= FRESHNESS_MAX_LAG_MS,
                                   "WARN", {"lag_ms": lag if lag is not None else -1}))
        return out

    def _keys(self, spark: SparkSession, path: str, table: TableDef, stored: DataFrame, w: Written,
              newest: tuple[str, str]) -> list[Outcome]:
        """Key uniqueness (and, for trades, id continuity) over the rows committed since the last evaluation."""
        prev = self.progress.get(table.name)
        requested, completion = newest
        if prev is not None:
            rows = None if completion == prev.completion else self._increment(spark, path, table, stored, prev.completion,
                                                                              completion)
            scope = f"commits completed after {prev.completion}"
        else:
            rows = in_partitions(stored, table.partition, w.partitions) if w.rows else None
            scope = "partitions written"
        marks = prev.newest if prev is not None and _rising(table) else {}
        found: list[tuple[int, list[dict]]] = []
        gaps: list[dict] = []
        if prev is not None and prev.duplicates:   # a duplicate fails the check until it is gone, not only once
            found.append(self._held_twice(spark, path, table, pd.DataFrame(prev.duplicates)))
        newest_keys: dict[tuple[str, ...], int] = {}
        if rows is not None:
            tagged = tag_late(spark, rows, table, marks, prev is not None).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                found.append(duplicate_keys(tagged.where(~F.col("_late")), table))
                if tagged.where("_late").take(1):
                    late = tagged.where("_late").select(*_key_and_partition(table)).distinct().toPandas()
                    found.append(self._held_twice(spark, path, table, late))
                if table.name == TRADES.name:
                    gaps = trade_id_gaps(continuity_ids(spark, tagged, marks))
                # the first scope (partitions) may hold commits completed after ``newest``: those are read again
                # next time, so only keys of commits up to it count as checked
                upto = tagged if prev is not None else tagged.where(F.col("_hoodie_commit_time") <= requested)
                newest_keys = max_keys(upto, table) if _rising(table) else {}
            finally:
                tagged.unpersist()
        n_dup, sample = merge_found(table, found)
        if rows is not None or prev is not None:
            self.progress[table.name] = Progress(completion, merge_max(marks, newest_keys), sample)
        out = [Outcome(table.asset_name, "record_key_unique", n_dup == 0,
                       metadata={"duplicate_keys": n_dup, "sample": sample, "rows_written_since_last": w.rows,
                                 "scope": scope})]
        if table.name == TRADES.name:
            out.append(Outcome(table.asset_name, "trade_id_continuity", not gaps, "WARN",
                               {"gap_count": len(gaps), "missing_trade_ids": sum(g["missing"] for g in gaps),
                                "gaps": format_ranges(gaps), "scope": scope}))
        return out

    def _increment(self, spark: SparkSession, path: str, table: TableDef, stored: DataFrame, begin: str,
                   end: str) -> DataFrame:
        """The key and partition columns of the rows committed in (begin, end]. Read from the files those
        commits list, in the driver: Hudi's incremental query reads every column of those files without
        vectorisation (minutes for five minutes of trades, docs/benchmarks-bronze.md); it is the fallback
        when a file is gone (cleaned) or the commits were archived."""
        cols = list(dict.fromkeys([*table.record_key, *table.partition]))
        if self._files is None:
            self._files = LakeFiles(spark)
        got = self._files.increment(path, begin, end, cols, skip_rewrites=True)
        if got is None:
            return hudi.read_incremental(spark, path, begin, end).select(*cols)
        return spark.createDataFrame(got, stored.select(*cols).schema)

    def _held_twice(self, spark: SparkSession, path: str, table: TableDef, keys: pd.DataFrame) -> tuple[int, list[dict]]:
        """Which of ``keys`` (record key and partition columns) the table as it is now holds more than once in
        their partitions. Read in the driver: the newest file of each file group of those partitions, only the
        rows whose rising key column is one of ``keys``' (a Spark snapshot of the partitions cost ~30 s of an
        evaluation for the klines, whose every new row is looked up)."""
        if keys.empty:
            return 0, []
        if self._files is None:
            self._files = LakeFiles(spark)
        parts = keys[list(table.partition)].drop_duplicates().itertuples(index=False)
        files = self._files.snapshot_files(path, ["/".join(f"{c}={v}" for c, v in zip(table.partition, p)) for p in parts])
        last = table.record_key[-1]
        rows = self._files.read_where(files, _key_and_partition(table), last, keys[last].unique().tolist())
        return held_twice(rows, keys, table)


def evaluate(spark: SparkSession, bucket: str, written: dict[str, Written]) -> list[Outcome]:
    """One evaluation over the partitions ``written`` names (a manual ``bronze_ingest``)."""
    return Checker().evaluate(spark, bucket, written)


def _rising(table: TableDef) -> bool:
    return bool(table.dense_id or table.rising_key)


def tag_late(spark: SparkSession, rows: DataFrame, table: TableDef, marks: dict[tuple[str, ...], int],
             incremental: bool) -> DataFrame:
    """``rows`` with ``_late``: true where the row's key may meet a row checked before, so it must be looked
    up in its partition: a key at or below its group's mark; every row of an incremental read of a table
    without a rising key (klines are upserted in place)."""
    if not incremental or (_rising(table) and not marks):
        return rows.withColumn("_late", F.lit(False))
    if not _rising(table):
        return rows.withColumn("_late", F.lit(True))
    groups, rising = table.key_groups, table.record_key[-1]
    mdf = spark.createDataFrame([(*g, hi) for g, hi in marks.items()],
                                ", ".join([*(f"_g{i} string" for i in range(len(groups))), "_mark long"]))
    on = reduce(lambda a, b: a & b, [F.col(c).cast("string") == F.col(f"_g{i}") for i, c in enumerate(groups)])
    return (rows.join(F.broadcast(mdf), on, "left")
            .withColumn("_late", F.coalesce(F.col(rising) <= F.col("_mark"), F.lit(False)))
            .drop(*(f"_g{i}" for i in range(len(groups))), "_mark"))


def _key_and_partition(table: TableDef) -> list[str]:
    return list(dict.fromkeys([*table.record_key, *table.partition]))


def held_twice(rows: pd.DataFrame, keys: pd.DataFrame, table: TableDef, limit: int = 20) -> tuple[int, list[dict]]:
    """Which of ``keys`` occur more than once in ``rows`` (both with the record key and partition columns):
    how many, and a sample like :func:`duplicate_keys`'s (plain Python values: it goes into check metadata)."""
    key = list(table.record_key)
    part = [c for c in table.partition if c not in key]
    if rows.empty:
        return 0, []
    mine = rows.merge(keys[key].drop_duplicates(), on=key)
    if mine.empty:
        return 0, []
    counts = mine.groupby(key, sort=True).agg(count=(key[-1], "size"), **{c: (c, "first") for c in part}).reset_index()
    dups = counts[counts["count"] > 1]
    sample = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
              for r in dups.head(limit).to_dict("records")]
    return len(dups), sample


def merge_found(table: TableDef, found: list[tuple[int, list[dict]]], limit: int = 20) -> tuple[int, list[dict]]:
    """One count and sample from several lookups that may report the same key."""
    by_key: dict[tuple, dict] = {}
    for _n, sample in found:
        for d in sample:
            by_key.setdefault(tuple(d[c] for c in table.record_key), d)
    # a lookup whose sample was cut at its limit counts more keys than it lists
    n = max([len(by_key), *(n for n, _ in found)]) if found else 0
    return n, list(by_key.values())[:limit]


def continuity_ids(spark: SparkSession, tagged: DataFrame, marks: dict[tuple[str, ...], int]) -> DataFrame:
    """(symbol, trade_id) of the new trades, each symbol led by the largest id checked before (so a gap
    between two evaluations is found); late trades (a backfill below that id) are not new."""
    ids = tagged.where(~F.col("_late")).select("symbol", "trade_id")
    if not marks:
        return ids
    return ids.unionByName(spark.createDataFrame([(g[0], hi) for g, hi in marks.items()], "symbol string, trade_id long"))


def max_keys(rows: DataFrame, table: TableDef) -> dict[tuple[str, ...], int]:
    rising = table.record_key[-1]
    got = rows.groupBy(*table.key_groups).agg(F.max(rising).alias("_hi")).collect()
    return {tuple(str(r[c]) for c in table.key_groups): int(r["_hi"]) for r in got if r["_hi"] is not None}


def merge_max(a: dict[tuple[str, ...], int], b: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    return {g: max(v for v in (a.get(g), b.get(g)) if v is not None) for g in {*a, *b}}


def duplicate_keys(df: DataFrame, table: TableDef, limit: int = 20) -> tuple[int, list[dict]]:
    """Keys held more than once: how many, and a sample (each with its partition, where it was found)."""
    part = [c for c in table.partition if c not in table.record_key]
    dups = (df.groupBy(*table.record_key).agg(F.count(F.lit(1)).alias("count"), *(F.first(c).alias(c) for c in part))
            .where("count > 1"))
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
