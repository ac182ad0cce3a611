"""A table whose creation stopped part-way (``.hoodie`` without ``hoodie.properties``, as a writer killed
during its first commit leaves it) is re-created by the next write; a table that lost its properties but
holds completed commits is never deleted: the write fails, naming the table, and the files stay."""
import uuid

import pytest

from crypto_pipeline.lakehouse.hudi import UnreadableTableError, append_rows, table_exists
from crypto_pipeline.silver import hudi

OPTS = hudi.write_options("it_unborn", "k", "day", "ts")


def _rows(spark, keys, day="2024-01-01"):
    return spark.createDataFrame([(k, day, 1) for k in keys], "k string, day string, ts long")


def _fs(spark, path):
    p = spark._jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark._jsc.hadoopConfiguration()), spark._jvm.org.apache.hadoop.fs.Path


def _files(spark, path) -> list[str]:
    fs, Path = _fs(spark, path)
    it, out = fs.listFiles(Path(path), True), []
    while it.hasNext():
        out.append(it.next().getPath().toString())
    return sorted(out)


def _touch(spark, path, data=b""):
    fs, Path = _fs(spark, path)
    out = fs.create(Path(path), True)
    out.write(bytearray(data))
    out.close()


def _keys(spark, path) -> list[str]:
    return sorted(r.k for r in hudi.read_snapshot(spark, path).select("k").collect())


@pytest.fixture()
def path(minio_stack):
    return f"s3a://{minio_stack.settings.minio.bucket}/it-unborn/{uuid.uuid4().hex[:10]}"


def test_a_table_whose_creation_stopped_is_created_afresh(spark, path):
    # what a first commit stopped before hoodie.properties leaves: Hudi's folders, a requested instant, a
    # data file no commit names
    _touch(spark, f"{path}/.hoodie/timeline/20240101000000000.commit.requested")
    _touch(spark, f"{path}/.hoodie/.temp/20240101000000000/MARKERS.type", b"DIRECT")
    _touch(spark, f"{path}/day=2024-01-01/stray-0_0-1-1_20240101000000000.parquet", b"not parquet")
    assert not table_exists(spark, path)

    append_rows(_rows(spark, ["a", "b"]), OPTS, path)

    assert table_exists(spark, path)
    assert _keys(spark, path) == ["a", "b"]
    assert not any("stray" in f for f in _files(spark, path))
    append_rows(_rows(spark, ["c"]), OPTS, path)  # and it is an ordinary table from then on
    assert _keys(spark, path) == ["a", "b", "c"]


def test_a_table_with_commits_but_no_properties_is_never_deleted(spark, path):
    append_rows(_rows(spark, ["a"]), OPTS, path)
    append_rows(_rows(spark, ["b"]), OPTS, path)
    fs, Path = _fs(spark, path)
    props, aside = Path(f"{path}/.hoodie/hoodie.properties"), Path(f"{path}-hoodie.properties")
    assert fs.rename(props, aside)
    before = _files(spark, path)

    with pytest.raises(UnreadableTableError, match=f"{path}.*2 completed instant"):
        append_rows(_rows(spark, ["c"]), OPTS, path)

    assert _files(spark, path) == before  # nothing deleted
    assert fs.rename(aside, props)  # the repair the error names
    append_rows(_rows(spark, ["c"]), OPTS, path)
    assert _keys(spark, path) == ["a", "b", "c"]
