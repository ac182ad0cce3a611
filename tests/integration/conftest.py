"""Fixtures shared by the integration layers."""
import pytest


@pytest.fixture(scope="session")
def spark(minio_stack):
    """One Spark session (local[2], 2 shuffle partitions, Hudi + S3A) on the session's MinIO."""
    from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf
    from tests.plain_spark import end_plain_session

    end_plain_session()   # the unit tests' JVM, if they ran first in this process: it lacks the jars

    s, c = minio_stack.settings, minio_stack.creds
    conf = spark_conf(default_jars_dir(), s.s3_endpoint, c.minio_user, c.minio_password,
                      master="local[2]", driver_memory="2g", shuffle_partitions=2)
    conf["spark.ui.showConsoleProgress"] = "false"
    session = local_session(conf, app_name="integration-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
