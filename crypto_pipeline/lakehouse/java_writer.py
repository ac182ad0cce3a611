"""Dense-id bronze tables written through Hudi's Java write client (``jvm/``, built by the installer)
instead of Spark's Hudi datasource.

Why: a datasource commit is about a dozen Spark jobs (small-file listing, workload profile, write,
commit) whatever the batch size, and at one trades commit every few seconds those jobs were most of
the bronze-writer's CPU (docs/benchmarks-bronze.md). Here the rows are still parsed by Spark (the one
parser of the pipeline, :mod:`crypto_pipeline.bronze.parse`) and collected once into the JVM; the
write, the commit and its bronze metadata are plain JVM calls. The table's files, keys, partitions,
schema and commit metadata are the same as the datasource writes (the table is created by the
datasource path on its first commit), so readers cannot tell the two apart."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from crypto_pipeline.lakehouse import id_ranges as ids
from crypto_pipeline.lakehouse.hudi import FILE_SIZING, SEPARATELY_CLUSTERED, hudi_options, table_exists
from crypto_pipeline.lakehouse.tables import TableDef

log = logging.getLogger(__name__)

JAVA_CLASS = "cryptopipeline.hudi.DenseIdTableWriter"
# commits between two cleans/archivals of a Java-written table: Hudi's own cadence would be every commit
# (each a timeline reload and a lock), though the cleaner plans only this often anyway
MAINTAIN_EVERY = int(FILE_SIZING["hoodie.clean.trigger.max.commits"])


@dataclass
class Staged:
    """A batch collected into the JVM, the committed ids dropped (see ``DenseIdTableWriter.stage``)."""

    rows: int
    dropped: int
    ids: dict[str, list[int]]
    min_time_ms: int | None
    max_time_ms: int | None
    max_ingest_ms: int | None
    partitions: list[dict] = field(default_factory=list)

    @classmethod
    def from_json(cls, text: str) -> "Staged":
        d = json.loads(text)
        return cls(d["rows"], d["dropped"], d["ids"], d.get("min_time_ms"), d.get("max_time_ms"),
                   d.get("max_ingest_ms"), d["partitions"])


class DenseIdWriter:
    """One table's Java write client, kept open across cycles (its JVM objects are built once)."""

    def __init__(self, spark: SparkSession, table: TableDef, path: str, parallelism: int = 2,
                 maintain_every: int = MAINTAIN_EVERY) -> None:
        if not table.dense_id:
            raise ValueError(f"{table.name}: the Java writer drops committed ids, so it needs a dense-id table")
        if maintain_every < 1:
            raise ValueError(f"maintain_every must be >= 1, got {maintain_every}")
        cls = spark._jvm
        for part in JAVA_CLASS.split("."):
            cls = getattr(cls, part)
        from py4j.java_gateway import JavaClass

        if not isinstance(cls, JavaClass):
            raise FileNotFoundError(f"class {JAVA_CLASS} is not on the Spark class path: the pipeline's jar "
                                    "is built by the installer (run ./infra/bootstrap.sh or ./deploy.sh)")
        self.table, self.path = table, path
        self._maintain_every, self._since_maintained = maintain_every, 0
        opts = hudi_options(table, parallelism=parallelism, async_clustering=table.name in SEPARATELY_CLUSTERED,
                            insert=True)
        self._j = cls(spark._jsc.hadoopConfiguration(), path, opts, table.dense_id, table.precombine,
                      table.time_column, list(table.partition))

    def stage(self, df: DataFrame, committed: ids.Ranges) -> Staged:
        """Collect ``df`` (the table's columns) into the JVM without the ids ``committed`` holds."""
        spans = {symbol: [[lo, hi] for lo, hi in r] for symbol, r in committed.items()}
        return Staged.from_json(self._j.stage(df._jdf, json.dumps(spans)))

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


class JavaWriters:
    """The Java writers of one loop, by table; a table is handed to one only once it exists (its first
    commit, which creates it, goes through the datasource)."""

    def __init__(self, spark: SparkSession, tables: tuple[str, ...], parallelism: int = 2) -> None:
        self._spark, self.tables, self._parallelism = spark, tables, parallelism
        self._open: dict[str, DenseIdWriter] = {}

    def get(self, table: TableDef, path: str) -> DenseIdWriter | None:
        if table.name not in self.tables or not table.dense_id:
            return None
        w = self._open.get(table.name)
        if w is None and table_exists(self._spark, path):
            w = self._open[table.name] = DenseIdWriter(self._spark, table, path, self._parallelism)
        return w

    def discard(self, name: str) -> None:
        """Drop a table's writer after a failed write (the next cycle starts a fresh client)."""
        w = self._open.pop(name, None)
        if w is not None:
            w.close()

    def close(self) -> None:
        for name in list(self._open):
            self.discard(name)
