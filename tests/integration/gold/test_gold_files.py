"""Gold's driver-side Hudi reads (crypto_pipeline/lakehouse/files.py) against Spark's Hudi reads of the same silver
table on MinIO: a partition-pruned snapshot and the rows of a range of commits are the same rows with the same
values (decimals as the same doubles); a range whose files were cleaned is handed back to Hudi's own query."""
import uuid

import pytest
from pyspark.sql import functions as F

from silver_bronze_data import simulate, write_trades

from crypto_pipeline.gold import lake
from crypto_pipeline.lakehouse.files import LakeFiles
from crypto_pipeline.silver import hudi
from crypto_pipeline.silver.ohlcv_job import update_ohlcv

T0 = 1704153000000  # 2024-01-01 23:50 UTC: the series cross a UTC day (two daily partitions)
COLS = ["symbol", "interval", "open_time_ms", "is_final", "close", "volume"]


def _rows(df, cols=COLS) -> list[tuple]:
    return sorted(tuple(r) for r in df[cols].itertuples(index=False))


def _spark_rows(df, cols=COLS) -> list[tuple]:
    pdf = df.selectExpr("symbol", "interval", "open_time_ms", "is_final", "cast(close as double) close",
                        "cast(volume as double) volume").toPandas()
    return _rows(pdf, cols)


def _changed_by_spark(spark, path, begin, end) -> dict:
    rows = (hudi.read_incremental(spark, path, begin, end).filter("is_final").groupBy("symbol", "interval")
            .agg(F.min("open_time_ms").alias("first")).collect())
    return {(r.symbol, r.interval): r.first for r in rows}


@pytest.fixture(scope="module")
def silver(spark, minio_stack):
    lake_uri = f"s3a://{minio_stack.settings.minio.bucket}/it-gold-files/{uuid.uuid4().hex[:10]}"
    bronze, path = f"{lake_uri}/bronze/trades", f"{lake_uri}/silver/ohlcv"
    trades, _ = simulate({"BTCUSDT": 3.0, "ETHUSDT": 1.5}, T0, 20 * 60, seed=3)
    commits = []
    for lo, hi in ((0, 14), (14, 17), (17, 20)):  # three silver commits
        write_trades(spark, bronze, [t for t in trades if T0 + lo * 60_000 <= t[5] < T0 + hi * 60_000])
        update_ohlcv(spark, bronze, path)
        commits.append(hudi.latest_completion_time(spark, path))
    return path, commits


def test_snapshot_equals_spark_partition_pruned(spark, silver):
    path, _ = silver
    start = T0 + 12 * 60_000  # 00:02 on the second day: only that day's 1m partitions, and 5m ones
    got = lake.read_series(LakeFiles(spark), path, {"1m": start, "5m": start}, ["close", "volume"], final_only=False)
    want = hudi.read_snapshot(spark, path).filter(f"interval in ('1m', '5m') and open_time_ms >= {start}")
    cols = ["symbol", "interval", "open_time_ms", "close", "volume"]
    assert len(got) == 18 and set(got.interval) == {"1m", "5m"}  # 8 + 1 bars x 2 symbols
    assert _rows(got, cols) == _spark_rows(want, cols)


def test_increment_equals_hudi_incremental_query(spark, silver):
    path, (c1, c2, c3) = silver
    files = LakeFiles(spark)
    for begin, end in ((c1, c2), (c1, c3), (c2, c3)):
        got = files.increment(path, begin, end, COLS)
        assert got is not None and len(got) > 0
        assert _rows(got) == _spark_rows(hudi.read_incremental(spark, path, begin, end))
    changed = lake.changed_from(spark, files, path, c1, c3)
    assert changed and changed == _changed_by_spark(spark, path, c1, c3)


def test_cleaned_file_hands_the_range_back_to_hudi(spark, silver):
    path, (c1, c2, c3) = silver
    files = LakeFiles(spark)
    _, timeline = files._meta(path)
    inst = [i for i in timeline.getInstants() if i.getCompletionTime() == c2][0]
    stats = timeline.readCommitMetadata(inst).getPartitionToWriteStats()
    # a file commit 2 wrote that commit 3 rewrote: the cleaner may delete it, as here
    later = timeline.readCommitMetadata([i for i in timeline.getInstants() if i.getCompletionTime() == c3][0])
    rewritten = {w.getFileId() for p in later.getPartitionToWriteStats().keySet()
                 for w in later.getPartitionToWriteStats().get(p)}
    victim = next(w.getPath() for p in stats.keySet() for w in stats.get(p) if w.getFileId() in rewritten)
    assert files.increment(path, c1, c2, COLS) is not None
    files.fs.delete_file(f"{path.split('://', 1)[1]}/{victim}")
    assert files.increment(path, c1, c2, COLS) is None  # a file of the range is gone
    # Hudi's own query answers instead (its full-scan fallback)
    assert lake.changed_from(spark, files, path, c1, c2) == _changed_by_spark(spark, path, c1, c2)
