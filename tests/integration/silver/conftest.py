"""One Spark session (local[2], 2 shuffle partitions) on the session's MinIO for every silver test, and a
fresh s3a prefix per test so tables never leak between tests."""
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # silver_bronze_data, silver_reference helpers


@pytest.fixture(scope="session")
def spark(minio_stack):
    from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf

    s, c = minio_stack.settings, minio_stack.creds
    conf = spark_conf(default_jars_dir(), s.s3_endpoint, c.minio_user, c.minio_password,
                      master="local[2]", driver_memory="2g", shuffle_partitions=2)
    conf["spark.ui.showConsoleProgress"] = "false"
    session = local_session(conf, app_name="silver-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture()
def lake(minio_stack):
    """s3a base for this test's tables."""
    return f"s3a://{minio_stack.settings.minio.bucket}/it-silver/{uuid.uuid4().hex[:10]}"
