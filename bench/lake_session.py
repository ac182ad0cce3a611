"""A benchmark's own lakehouse: MinIO from infra.local_stack and Spark local[2] (2 shuffle partitions) on it."""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def spark_on_minio(app: str, driver_memory: str = "4g"):
    """Yields (spark, bucket); stops Spark and the stack afterwards."""
    from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf
    from infra.local_stack import LocalStack

    stack = LocalStack.create()
    stack.start("minio")
    s, c = stack.settings, stack.creds
    conf = spark_conf(default_jars_dir(), s.s3_endpoint, c.minio_user, c.minio_password, "local[2]", driver_memory, 2)
    conf["spark.ui.showConsoleProgress"] = "false"
    spark = local_session(conf, app)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark, s.minio.bucket
    finally:
        spark.stop()
        stack.close()
