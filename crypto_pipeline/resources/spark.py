"""Spark for the lakehouse jobs: local mode, Hudi + S3A + Kafka jars from the installer's local folder
(never resolved from a remote repository at job start)."""
from __future__ import annotations

import os
import sys
from pathlib import Path



def default_jars_dir() -> str:
    from infra.layout import Layout

    return str(Layout().spark_jars_dir)


def spark_conf(jars_dir: str, s3_endpoint: str, access_key: str, secret_key: str,
               master: str, driver_memory: str, shuffle_partitions: int) -> dict[str, str]:
    jars = sorted(str(p) for p in Path(jars_dir).glob("*.jar"))
    if not any("hudi-spark" in j for j in jars):
        raise FileNotFoundError(f"no Hudi bundle in {jars_dir}; run ./infra/bootstrap.sh (or ./deploy.sh) to install the Spark jars")
    return {
        "spark.master": master,
        "spark.driver.memory": driver_memory,
        "spark.jars": ",".join(jars),
        "spark.jars.ivy": str(Path(jars_dir).parent / "ivy"),  # nothing is resolved; keep ivy out of $HOME
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.sql.extensions": "org.apache.spark.sql.hudi.HoodieSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.hudi.catalog.HoodieCatalog",
        "spark.kryo.registrator": "org.apache.spark.HoodieSparkKryoRegistrar",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.hadoop.fs.s3a.endpoint": s3_endpoint,
        "spark.hadoop.fs.s3a.access.key": access_key,
        "spark.hadoop.fs.s3a.secret.key": secret_key,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(s3_endpoint.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        # Hudi: no metadata-table locking service needed for a single writer per table
        "spark.hadoop.hoodie.metadata.enable": "true",
    }


def pyspark_resource(s3_endpoint: str, access_key: str, secret_key: str, jars_dir: str | None = None,
                     master: str = "local[2]", driver_memory: str = "2g", shuffle_partitions: int = 4,
                     extra_conf: dict[str, str] | None = None, background: bool = False):
    """dagster-pyspark's PySparkResource configured for Hudi on S3A with the locally installed jars.
    ``background``: the run's process drops its CPU priority before the Spark JVM starts (batch layers)."""
    from dagster_pyspark import PySparkResource

    class BackgroundPySparkResource(PySparkResource):
        """Why before the session: the JVM is a child of this process and inherits its niceness from its first
        instruction, so its start-up (class loading, JIT: several CPU-seconds) no longer competes with the
        bronze stream at full priority; renicing afterwards (:func:`run_as_background`) came too late for it."""

        def setup_for_execution(self, context) -> None:
            run_as_background(None)
            super().setup_for_execution(context)

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # stay on loopback, never the machine's public interface
    conf = {**spark_conf(jars_dir or default_jars_dir(), s3_endpoint, access_key, secret_key, master, driver_memory,
                         shuffle_partitions), **(extra_conf or {})}
    return (BackgroundPySparkResource if background else PySparkResource)(spark_config=conf)


def local_session(conf: dict[str, str], app_name: str = "crypto-pipeline"):
    """A SparkSession from spark_conf() outside a Dagster run (tests, benchmarks, ad-hoc jobs)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # stay on loopback, never the machine's public interface
    builder = SparkSession.builder.appName(app_name)
    for k, v in conf.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


def run_as_background(spark, niceness: int | None = None) -> int:
    """Lower the CPU priority of this process and of the local Spark JVM (every thread, so the threads it
    starts later inherit it). Batch layers call this so that, on a small host, the latency-sensitive
    bronze stream keeps its CPU share while silver/gold catch up in the background. Unprivileged
    (raising niceness needs no root); ``SPARK_BATCH_NICENESS`` (default 10, 0 = off) sets the value.
    Returns the number of threads changed."""
    niceness = int(os.environ.get("SPARK_BATCH_NICENESS", "10")) if niceness is None else niceness
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return 0
    pids = [os.getpid()]
    try:
        if spark is not None:
            pids.append(int(spark._jvm.java.lang.ProcessHandle.current().pid()))
    except Exception:  # noqa: BLE001 - a remote/cluster master has no local JVM to renice
        pass
    changed = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                tid = int(task.name)
                os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), niceness))
                changed += 1
            except (OSError, ValueError):
                continue  # a thread that ended meanwhile
    return changed
