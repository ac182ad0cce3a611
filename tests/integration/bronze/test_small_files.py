"""Small files on real Hudi + MinIO: frequent tiny commits never rewrite a file, and inline clustering
merges them, so a partition does not keep one file per commit (the bronze file-sizing settings, with the
clustering period shortened from 60 commits to 4 to keep the test short)."""
from __future__ import annotations

import threading

from pyspark.sql import functions as F

from crypto_pipeline.lakehouse.clustering import cluster_table, is_write_conflict
from crypto_pipeline.lakehouse.hudi import hudi_options
from crypto_pipeline.lakehouse.tables import TRADES
from tests.integration.bronze.helpers import make_bucket, stack_spark

COMMITS, CLUSTER_EVERY = 9, 4


def _batch(spark, first_id: int, n: int):
    rows = [("XSMALLUSDT", i, "100.5", "0.1", 1_752_572_400_000 + i, "2025-07-15") for i in range(first_id, first_id + n)]
    df = spark.createDataFrame(rows, "symbol string, trade_id long, price string, quantity string, trade_time_ms long, dt string")
    return df.withColumn("price", F.col("price").cast("decimal(38,18)")).withColumn("quantity", F.col("quantity").cast("decimal(38,18)"))


def test_tiny_commits_are_clustered_instead_of_piling_up(minio_stack):
    env = minio_stack.env()
    bucket = make_bucket(env["S3_ENDPOINT"], env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"])
    spark = stack_spark(env)
    path = f"s3a://{bucket}/bronze/small_files_trades"
    opts = {**hudi_options(TRADES), "hoodie.clustering.inline.max.commits": str(CLUSTER_EVERY)}
    files_after = []
    for c in range(COMMITS):
        _batch(spark, c * 10, 10).write.format("hudi").options(**opts).mode("append").save(path)
        df = spark.read.format("hudi").load(path)
        files_after.append(df.select(F.input_file_name()).distinct().count())
    assert files_after[1] == 2 and files_after[2] == 3   # a commit adds a file; it never rewrites the last one
    assert max(files_after) <= CLUSTER_EVERY + 1          # clustering merged them before they piled up
    assert files_after[-1] < COMMITS
    rows = spark.read.format("hudi").load(path)
    assert rows.count() == COMMITS * 10 and rows.select("trade_id").distinct().count() == COMMITS * 10


def test_clustering_from_another_thread_does_not_stop_the_writer(minio_stack):
    """The bronze stream's arrangement: the writer keeps committing (async-clustering options) while another
    thread clusters the same table. Commits made while a clustering plan is pending survive its
    replacecommit, the clustering is not rejected because of them, and every row is there exactly once."""
    env = minio_stack.env()
    bucket = make_bucket(env["S3_ENDPOINT"], env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"])
    spark = stack_spark(env)
    path = f"s3a://{bucket}/bronze/async_clustering_trades"
    opts = hudi_options(TRADES, async_clustering=True)
    n = [0]
    done = threading.Event()

    def write() -> None:
        _batch(spark, n[0] * 10, 10).write.format("hudi").options(**opts).mode("append").save(path)
        n[0] += 1

    for _ in range(6):
        write()
    cluster_table(spark, TRADES, path, op="schedule")      # a plan over those six files, still pending
    write()
    write()                                                # commits made while it is pending
    result = {}
    th = threading.Thread(target=lambda: (result.setdefault("r", cluster_table(spark, TRADES, path, op="execute")),
                                          done.set()))
    th.start()
    while not done.is_set() and n[0] < 60:                 # and while it executes
        write()
    th.join()
    write()                                                # a commit after it completed still lands

    res = result["r"]
    assert res.instants and res.groups >= 1                # the replacecommit completed
    rows = spark.read.format("hudi").load(path)
    assert rows.count() == n[0] * 10 and rows.select("trade_id").distinct().count() == n[0] * 10
    assert rows.select(F.input_file_name()).distinct().count() < n[0]  # the six small files were merged
    assert not is_write_conflict(RuntimeError("S3 down")) and is_write_conflict(
        RuntimeError("org.apache.hudi.exception.HoodieWriteConflictException: Cannot resolve conflicts"))
