"""The unit tests' plain local Spark (none of the Hudi, S3A or pipeline jars), ended before a session that
needs those jars starts in the same pytest process.

Why: PySpark keeps one JVM per Python process and a later session reuses it; that session's ``spark.jars``
then arrive only through ``addJar``, out of reach of py4j and S3A, which load from the JVM's class path. CI
runs the integration tests first; this matters when ``tests/unit`` runs before them in one process."""
from __future__ import annotations

import os
import sys

_plain: dict = {}   # "session": the plain session this module launched a JVM for, while it runs


def plain_session():
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    launched_here = SparkContext._gateway is None   # else: reuse the running JVM (it has every jar)
    s = (SparkSession.builder.master("local[1]").appName("bronze-unit")
         .config("spark.sql.session.timeZone", "UTC").config("spark.sql.shuffle.partitions", "1")
         .config("spark.sql.caseSensitive", "true").config("spark.ui.enabled", "false")
         .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    if launched_here:
        _plain["session"] = s
    return s


def end_plain_session() -> None:
    """Stop the plain session and end its JVM, if this module launched one (the next session launches its own)."""
    from pyspark import SparkContext

    s = _plain.pop("session", None)
    if s is None:
        return
    s.stop()
    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = SparkContext._jvm = None
    if proc is not None:   # PySpark's gateway server exits when its stdin closes
        proc.stdin.close()
        proc.wait(timeout=60)
