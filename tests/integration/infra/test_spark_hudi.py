"""Spark (pyspark's jars) + Hudi bundle + S3A from the installer's local jar folder, against MinIO, as the
pipeline's bucket-only S3 user whose secret never reaches the JVM's command line or environment."""
import os
from decimal import Decimal

import psutil
import pytest

from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf


@pytest.fixture(scope="module")
def spark(minio_stack):
    s, c = minio_stack.settings, minio_stack.creds
    # a Dagster run's process holds its storage password; the JVM it starts must not inherit it
    os.environ["DAGSTER_PG_PASSWORD"] = c.dagster_pg_password
    try:
        session = local_session(spark_conf(default_jars_dir(), s.s3_endpoint, c.pipeline_s3_user,
                                           c.pipeline_s3_password, master="local[2]", driver_memory="1g",
                                           shuffle_partitions=2))
    finally:
        del os.environ["DAGSTER_PG_PASSWORD"]
    yield session
    # getOrCreate: the JVM is the one every integration module shares (stopping it would end theirs); give it
    # back the admin keys their per-test buckets need (the pipeline user may only use the lakehouse bucket)
    hadoop = session.sparkContext._jsc.hadoopConfiguration()
    hadoop.set("fs.s3a.access.key", c.minio_user)
    hadoop.set("fs.s3a.secret.key", c.minio_password)


def test_no_secret_on_the_jvm_command_line_or_in_its_environment(spark, minio_stack):
    c = minio_stack.creds
    jvm = psutil.Process(int(spark._jvm.java.lang.ProcessHandle.current().pid()))
    cmdline = "\0".join(jvm.cmdline())
    environ = "\0".join(f"{k}={v}" for k, v in jvm.environ().items())
    assert "org.apache.spark.deploy.SparkSubmit" in cmdline  # it is the driver JVM
    for secret in (c.pipeline_s3_password, c.dagster_pg_password, c.minio_password):
        assert secret not in cmdline and secret not in environ
    assert "fs.s3a.secret.key" not in cmdline
    # and yet S3A has the key (the round trip below uses it too)
    assert spark.sparkContext._jsc.hadoopConfiguration().get("fs.s3a.secret.key") == c.pipeline_s3_password


def test_s3_listings_are_parsed_without_a_parser_search_through_the_jars(spark):
    """The JDK's SAX parser is named up front, so the AWS SDK's parser for each S3 listing response is
    created without a search for a provider through every jar (the class must exist: a wrong name fails)."""
    jvm = spark._jvm
    parser = "com.sun.org.apache.xerces.internal.parsers.SAXParser"
    assert jvm.java.lang.System.getProperty("org.xml.sax.driver") == parser
    assert jvm.org.xml.sax.helpers.XMLReaderFactory.createXMLReader().getClass().getName() == parser


def test_hudi_table_on_s3a_round_trip_and_idempotent_upsert(spark, minio_stack):
    from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType

    path = f"s3a://{minio_stack.settings.minio.bucket}/it/hudi_trades"
    schema = StructType([
        StructField("symbol", StringType()), StructField("trade_id", LongType()), StructField("event_time", LongType()),
        StructField("price", DecimalType(38, 18)), StructField("dt", StringType()),
    ])
    rows = [("BTCUSDT" if i % 2 else "ETHUSDT", i, 1_700_000_000_000 + i, Decimal(f"{60000 + i}.12345678"), "2026-11-21")
            for i in range(1, 201)]
    df = spark.createDataFrame(rows, schema)
    opts = {
        "hoodie.table.name": "it_trades",
        "hoodie.datasource.write.recordkey.field": "symbol,trade_id",
        "hoodie.datasource.write.precombine.field": "event_time",
        "hoodie.datasource.write.partitionpath.field": "symbol,dt",
        "hoodie.datasource.write.keygenerator.class": "org.apache.hudi.keygen.ComplexKeyGenerator",
        "hoodie.datasource.write.operation": "upsert",
        "hoodie.datasource.write.table.type": "COPY_ON_WRITE",
    }
    df.write.format("hudi").options(**opts).mode("overwrite").save(path)
    df.limit(50).write.format("hudi").options(**opts).mode("append").save(path)  # replay: same keys again

    back = spark.read.format("hudi").load(path)
    assert back.count() == 200
    got = {(r.symbol, r.trade_id, r.price) for r in back.select("symbol", "trade_id", "price").collect()}
    assert got == {(s, t, p) for s, t, _, p, _ in rows}
    commit_times = {r[0] for r in back.select("_hoodie_commit_time").distinct().collect()}
    assert len(commit_times) == 2  # the replayed 50 rows were upserted in place, not appended
