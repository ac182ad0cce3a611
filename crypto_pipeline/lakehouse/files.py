"""Reading the few rows a job needs from Hudi (copy-on-write) tables in the driver, without Spark jobs: gold's
updates, and the bronze checks' reads of the newest commits.

Hudi's own timeline and file-system view (the Java classes, over py4j) say which Parquet files make up a
snapshot or hold the rows of a range of commits; pyarrow reads those files from S3 into pandas.

Why (docs/benchmarks-gold.md): a gold update reads a few thousand rows - the tails of the series and what
silver's newest commits wrote - but a Spark snapshot read of a Hudi table first lists every partition of the
table (three directory levels: six Spark jobs), then plans and runs its read job; that cost seconds per read
and most of a one-minute update. Here only the partitions a read needs are listed (one LIST each, pruned level
by level), the Hudi view picks the newest committed file of each file group in them, and nothing else runs.
Decimals become float64 through their exact decimal text (correctly rounded, as Spark's cast to double)."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

COMMIT_TIME = "_hoodie_commit_time"
#: keep(partition values so far) -> bool, asked at each level of a hive-style partition path
Keep = Callable[[dict[str, str]], bool]


class Increment(NamedTuple):
    """The newest file of each file group a range of commits wrote, those commits' times (a row of a file
    belongs to the range when it carries one of them) and how many rows the commits wrote."""
    files: list[str]
    times: list[str]
    rows: int


def _key(uri: str) -> str:
    """s3a://bucket/key -> bucket/key (pyarrow's S3 paths)."""
    return uri.split("://", 1)[1] if "://" in uri else uri


class LakeFiles:
    """One per run: pyarrow's S3 file system on the Spark session's S3A settings (the same endpoint and keys,
    which stay in this process), and Hudi meta clients from the session's JVM."""

    def __init__(self, spark: SparkSession):
        self._spark = spark
        hc = spark._jsc.hadoopConfiguration()
        endpoint = hc.get("fs.s3a.endpoint") or ""
        scheme, _, host = endpoint.rpartition("://")
        if not scheme:
            scheme = "https" if (hc.get("fs.s3a.connection.ssl.enabled") or "true") == "true" else "http"
        self.fs = pafs.S3FileSystem(access_key=hc.get("fs.s3a.access.key"), secret_key=hc.get("fs.s3a.secret.key"),
                                    endpoint_override=host or None, scheme=scheme,
                                    region=hc.get("fs.s3a.endpoint.region") or "us-east-1")

    # ---- timeline ------------------------------------------------------------------------------------

    def _meta(self, path: str):
        jvm = self._spark._jvm
        conf = jvm.org.apache.hudi.storage.hadoop.HadoopStorageConfiguration(self._spark._jsc.hadoopConfiguration())
        mc = jvm.org.apache.hudi.common.table.HoodieTableMetaClient.builder().setConf(conf).setBasePath(path).build()
        return mc, mc.getActiveTimeline().getCommitsTimeline().filterCompletedInstants()

    # ---- snapshot ------------------------------------------------------------------------------------

    def partitions(self, path: str, fields: tuple[str, ...], keep: Keep) -> list[str]:
        """Partition paths (relative, hive style ``f=v/...`` over ``fields``) that exist and that ``keep``
        accepts at every level (it sees the values of the levels so far)."""
        level: list[tuple[str, dict[str, str]]] = [("", {})]
        for f in fields:
            nxt = []
            for rel, vals in level:
                infos = self.fs.get_file_info(pafs.FileSelector(f"{_key(path)}/{rel}".rstrip("/"), allow_not_found=True))
                for info in infos:
                    name = info.base_name
                    if info.type != pafs.FileType.Directory or not name.startswith(f + "="):
                        continue
                    v = {**vals, f: name[len(f) + 1:]}
                    if keep(v):
                        nxt.append((f"{rel}/{name}".lstrip("/"), v))
            level = nxt
        return [rel for rel, _ in level]

    def snapshot_files(self, path: str, partitions: list[str]) -> list[str]:
        """The newest committed base file of every file group in ``partitions`` (Hudi's file-system view over
        the completed commits: files of failed or in-flight writes are not in it)."""
        if not partitions:
            return []
        jvm = self._spark._jvm
        mc, timeline = self._meta(path)
        engine = jvm.org.apache.hudi.common.engine.HoodieLocalEngineContext(mc.getStorageConf())
        view = jvm.org.apache.hudi.common.table.view.HoodieTableFileSystemView.fileListingBasedFileSystemView(
            engine, mc, timeline)
        try:
            todo = jvm.java.util.ArrayList()
            for p in partitions:
                todo.add(p)
            view.loadPartitions(todo)  # lists them in parallel
            files = []
            for p in partitions:
                it = view.getLatestBaseFiles(p).iterator()
                while it.hasNext():
                    files.append(it.next().getPath())
            return files
        finally:
            view.close()

    def read(self, files: list[str], columns: list[str]) -> pd.DataFrame:
        """``columns`` of the rows in ``files`` as pandas; decimals as float64, NULL doubles as NaN."""
        if not files:
            return pd.DataFrame(columns=columns)
        return _floats(self._table(files, columns)).to_pandas()

    def read_where(self, files: list[str], columns: list[str], column: str, values: list) -> pd.DataFrame:
        """Like :meth:`read`, only the rows whose ``column`` is one of ``values`` (pyarrow filters while it
        reads: row groups whose statistics exclude every value are skipped)."""
        if not files or not values:
            return pd.DataFrame(columns=columns)
        return _floats(self._table(files, columns, pc.field(column).isin(values))).to_pandas()

    def _table(self, files: list[str], columns: list[str], filters: pc.Expression | None = None) -> pa.Table:
        return pq.read_table([_key(f) for f in files], filesystem=self.fs, partitioning=None, columns=columns,
                             filters=filters)

    def snapshot(self, path: str, fields: tuple[str, ...], keep: Keep, columns: list[str]) -> pd.DataFrame:
        return self.read(self.snapshot_files(path, self.partitions(path, fields, keep)), columns)

    # ---- increments ----------------------------------------------------------------------------------

    def increment(self, path: str, begin: str, end: str, columns: list[str], skip_rewrites: bool = False
                  ) -> pd.DataFrame | None:
        """Rows written by the commits completed in (begin, end], as Hudi's incremental query on a copy-on-write
        table finds them: the newest version of each file those commits wrote, rows carrying one of their
        commit times. None when Hudi's own query must decide instead (it falls back to a full scan): a commit
        in the range that is not a plain commit (e.g. clustering), commits already archived, a file cleaned.
        ``skip_rewrites``: a clustering in the range is passed over (its rows keep the commit times of the
        commits that wrote them, whose own files are read while the cleaner keeps them)."""
        found = self.increment_files(path, begin, end, skip_rewrites)
        if found is None:
            return None
        if not found.files:
            return pd.DataFrame(columns=columns)
        table = self.read_increment(found, columns)
        return None if table is None else _floats(table).to_pandas()

    def increment_table(self, path: str, begin: str, end: str, columns: list[str], skip_rewrites: bool = False,
                        max_rows: int | None = None) -> pa.Table | None:
        """:meth:`increment` as an Arrow table with the files' own types (decimals stay exact). Also None when
        the commits wrote no file or more than ``max_rows`` rows (a read that size belongs in Spark)."""
        found = self.increment_files(path, begin, end, skip_rewrites)
        if found is None or not found.files or (max_rows is not None and found.rows > max_rows):
            return None
        return self.read_increment(found, columns)

    def increment_files(self, path: str, begin: str, end: str, skip_rewrites: bool = False) -> Increment | None:
        """Where the rows of the commits in (begin, end] are; None when Hudi's own query must decide (see
        :meth:`increment`)."""
        mc, timeline = self._meta(path)
        instants = sorted(timeline.getInstants(), key=lambda i: i.getCompletionTime())
        if not instants or instants[0].getCompletionTime() > begin:
            return None  # the commits right after ``begin`` may be archived
        files: dict[str, str] = {}
        times: list[str] = []
        written = 0
        base = path.rstrip("/")
        for inst in instants:
            done = inst.getCompletionTime()
            if not begin < done <= end:
                continue
            if inst.getAction() != "commit":
                if skip_rewrites:
                    continue
                return None
            times.append(inst.requestedTime())
            stats = timeline.readCommitMetadata(inst).getPartitionToWriteStats()
            for part in stats.keySet():
                for w in stats.get(part):
                    if w.getPath():
                        files[w.getFileId()] = f"{base}/{w.getPath()}"
                        written += w.getNumWrites()
        return Increment(list(files.values()), times, written)

    def read_increment(self, found: Increment, columns: list[str]) -> pa.Table | None:
        """``columns`` of the rows ``found`` names, with the files' own types; None when a file is gone."""
        try:
            table = self._table(found.files, [*columns, COMMIT_TIME])
        except OSError:  # a file cleaned since (FileNotFoundError) or unreadable: Hudi's query decides
            return None
        return table.filter(pc.field(COMMIT_TIME).isin(found.times)).drop_columns([COMMIT_TIME])


def _floats(table: pa.Table) -> pa.Table:
    """Decimal columns -> float64 via their exact text: correctly rounded, the value Spark's cast gives."""
    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type):
            table = table.set_column(i, f.name, pc.cast(pc.cast(table.column(i), pa.string()), pa.float64()))
    return table
