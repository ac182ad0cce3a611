"""Bronze tables written by insert through Hudi's Java write client (``jvm/``, built by the installer)
instead of Spark's Hudi datasource: the dense-id tables (trades, agg trades) and the flat rising-key
tables (book ticker, tickers) whose batch lies above the committed key marks.

Why: a datasource commit is about a dozen Spark jobs (small-file listing, workload profile, write,
commit) whatever the batch size, and at one trades commit every few seconds those jobs were most of
the bronze-writer's CPU (docs/benchmarks-bronze.md). Here the write, the commit and its bronze metadata
are plain JVM calls. The rows come either from Spark (:mod:`crypto_pipeline.bronze.parse`, the
pipeline's authority on bad input) collected once, or, for trades, straight from the Kafka records the
driver read, parsed in the JVM by ``TradeRecordParser``: a fast path that takes only records Spark would
accept unchanged and hands any other batch back to Spark. The table's files, keys, partitions, schema
and commit metadata are the same as the datasource writes (the table is created by the datasource path
on its first commit), so readers cannot tell the two apart."""
from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import ArrayType, StructType

from crypto_pipeline.bronze import parse, schemas
from crypto_pipeline.lakehouse import id_ranges as ids
from crypto_pipeline.lakehouse import key_marks as km
from crypto_pipeline.lakehouse.hudi import FILE_SIZING, SEPARATELY_CLUSTERED, hudi_options, table_exists
from crypto_pipeline.lakehouse.kafka_batch import Record
from crypto_pipeline.lakehouse.tables import QUARANTINE, TableDef
from shared.decimals import JAVA_PATTERN
from shared.envelope import SCHEMA_VERSION

log = logging.getLogger(__name__)

JAVA_CLASS = "cryptopipeline.hudi.BronzeTableWriter"
PARSER_CLASS = "cryptopipeline.bronze.TradeRecordParser"
RECORD_PARSED_TABLES = ("trades",)   # the tables TradeRecordParser makes rows for
# commits between two cleans/archivals of a Java-written table: Hudi's own cadence would be every commit
# (each a timeline reload and a lock), though the cleaner plans only this often anyway
MAINTAIN_EVERY = int(FILE_SIZING["hoodie.clean.trigger.max.commits"])


@dataclass
class Staged:
    """A batch collected into the JVM (see ``BronzeTableWriter.stage``): of a dense-id table without the
    committed ids and with the ids it keeps; of a rising-key table with its key's per-group minima and maxima."""

    rows: int
    dropped: int
    ids: dict[str, list[int]]
    min_time_ms: int | None
    max_time_ms: int | None
    max_ingest_ms: int | None
    partitions: list[dict] = field(default_factory=list)
    key_min: km.Marks = field(default_factory=dict)
    key_max: km.Marks = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "Staged":
        marks = lambda rows: {km.group_of(r[:-1]): int(r[-1]) for r in rows}  # noqa: E731
        return cls(d["rows"], d["dropped"], d["ids"], d.get("min_time_ms"), d.get("max_time_ms"),
                   d.get("max_ingest_ms"), d["partitions"], marks(d.get("key_min", [])), marks(d.get("key_max", [])))


class JavaTableWriter:
    """One table's Java write client, kept open across cycles (its JVM objects are built once)."""

    def __init__(self, spark: SparkSession, table: TableDef, path: str, parallelism: int = 2,
                 maintain_every: int = MAINTAIN_EVERY, parse_records: bool = True,
                 options: dict[str, str] | None = None) -> None:
        """``options``: Hudi options over the table's own (e.g. a shorter clustering cadence)."""
        if not java_writable(table):
            raise ValueError(f"{table.name}: the Java writer inserts flat rows of a dense-id or rising-key table")
        if maintain_every < 1:
            raise ValueError(f"maintain_every must be >= 1, got {maintain_every}")
        cls = _java_class(spark, JAVA_CLASS)
        self.table, self.path = table, path
        self._maintain_every, self._since_maintained = maintain_every, 0
        opts = {**hudi_options(table, parallelism=parallelism, async_clustering=table.name in SEPARATELY_CLUSTERED,
                               insert=True), **(options or {})}
        self._j = cls(spark._jsc.hadoopConfiguration(), path, opts, table.dense_id, list(table.record_key),
                      table.precombine, table.time_column, list(table.partition))
        self._parser = _record_parser(spark) if parse_records and table.name in RECORD_PARSED_TABLES else None

    @property
    def parses_records(self) -> bool:
        """Whether :meth:`stage_records` can take this table's raw Kafka records."""
        return self._parser is not None

    def stage_records(self, records: list[Record], committed: ids.Ranges) -> Staged | str:
        """Parse ``records`` (the table's stream, as the driver read them) in the JVM and stage them
        without the ids ``committed`` holds; or, when the parser leaves a record to Spark, stage nothing
        and return why (the caller then parses the batch with Spark)."""
        if self._parser is None:
            raise ValueError(f"{self.table.name}: no JVM record parser (only {RECORD_PARSED_TABLES})")
        out = json.loads(self._j.stageRecords(self._parser, pack_records(records), json.dumps(_spans(committed))))
        return out["fallback"] if "fallback" in out else Staged.from_dict(out)

    def stage(self, df: DataFrame, committed: ids.Ranges) -> Staged:
        """Collect ``df`` (the table's columns) into the JVM without the ids ``committed`` holds."""
        return Staged.from_dict(json.loads(self._j.stage(df._jdf, json.dumps(_spans(committed)))))

    def commit(self, metadata: dict[str, str]) -> str:
        """Write the staged rows and commit them with ``metadata`` (one instant); returns the instant.
        Every ``maintain_every`` commits the table is cleaned and its timeline archived."""
        instant = self._j.commit(metadata)
        self._since_maintained += 1
        if self._since_maintained >= self._maintain_every:
            self._since_maintained = 0
            try:
                self._j.maintain()
            except Exception as e:  # noqa: BLE001 - the rows are committed; cleaning is retried next time
                log.warning("bronze %s: clean/archive after commit %s failed (retried in %d commits): %s",
                            self.table.name, instant, self._maintain_every, e)
        return instant

    def close(self) -> None:
        try:
            self._j.close()
        except Exception as e:  # noqa: BLE001 - closing after a failed commit: the client is dropped anyway
            log.warning("bronze %s: closing the Java write client failed: %s", self.table.name, e)


def java_writable(table: TableDef) -> bool:
    """Whether the Java writer can take ``table``: inserts of a dense-id or rising-key table of flat columns
    (not the quarantine, whose rows come from every stream's Spark parse, nor klines, which are upserted)."""
    flat = all(not isinstance(t, (ArrayType, StructType)) for _, t in table.columns)
    return flat and bool(table.dense_id or table.rising_key) and table.name != QUARANTINE.name


def _spans(committed: ids.Ranges) -> dict[str, list[list[int]]]:
    return {symbol: [[lo, hi] for lo, hi in r] for symbol, r in committed.items()}


def pack_records(records: list[Record]) -> bytes:
    """The frame ``TradeRecordParser.parse`` reads: per record the topic, partition, offset and value."""
    out = []
    for _key, value, topic, partition, offset, _ts, _ts_type in records:
        t, v = topic.encode(), value or b""
        out.append(struct.pack(f">i{len(t)}siqi", len(t), t, partition, offset, len(v)))
        out.append(v)
    return b"".join(out)


def _java_class(spark: SparkSession, name: str):
    cls = spark._jvm
    for part in name.split("."):
        cls = getattr(cls, part)
    from py4j.java_gateway import JavaClass

    if not isinstance(cls, JavaClass):
        raise FileNotFoundError(f"class {name} is not on the Spark class path: the pipeline's jar "
                                "is built by the installer (run ./infra/bootstrap.sh or ./deploy.sh)")
    return cls


def _record_parser(spark: SparkSession):
    """A ``TradeRecordParser`` judging by the same constants as :mod:`crypto_pipeline.bronze.parse`."""
    return _java_class(spark, PARSER_CLASS)(
        SCHEMA_VERSION, list(parse.SOURCES), list(schemas.KNOWN_KEYS["trades"]), JAVA_PATTERN, parse.LATE_MS,
        spark.conf.get("spark.sql.session.timeZone"))


class JavaWriters:
    """The Java writers of one loop, by table; a table is handed to one only once it exists (its first
    commit, which creates it, goes through the datasource)."""

    def __init__(self, spark: SparkSession, tables: tuple[str, ...], parallelism: int = 2,
                 parse_records: bool = True, options: dict[str, str] | None = None) -> None:
        """``parse_records``: trades batches are parsed in the JVM (``TradeRecordParser``) when it can.
        ``options``: Hudi options over each table's own."""
        self._spark, self.tables, self._parallelism = spark, tables, parallelism
        self._parse_records, self._options = parse_records, options
        self._open: dict[str, JavaTableWriter] = {}

    def get(self, table: TableDef, path: str) -> JavaTableWriter | None:
        if table.name not in self.tables or not java_writable(table):
            return None
        w = self._open.get(table.name)
        if w is None and table_exists(self._spark, path):
            w = self._open[table.name] = JavaTableWriter(self._spark, table, path, self._parallelism,
                                                         parse_records=self._parse_records, options=self._options)
        return w

    def discard(self, name: str) -> None:
        """Drop a table's writer after a failed write (the next cycle starts a fresh client)."""
        w = self._open.pop(name, None)
        if w is not None:
            w.close()

    def close(self) -> None:
        for name in list(self._open):
            self.discard(name)
