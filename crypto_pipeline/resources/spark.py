"""Spark for the lakehouse jobs: local mode, Hudi + S3A + Kafka jars from the installer's local folder
(never resolved from a remote repository at job start)."""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_pyspark import PySparkResource

from shared.secrets import is_secret_name

log = logging.getLogger(__name__)

# pyspark hands every builder option to spark-submit as `--conf key=value`, i.e. to the JVM's command line,
# which every local user can read in `ps`. These two never go there: start_session() sets them on the
# running JVM's Hadoop configuration over py4j (an authenticated local socket) before any S3A file system
# exists, so S3A's SimpleAWSCredentialsProvider finds them there.
S3A_CREDENTIAL_KEYS = ("spark.hadoop.fs.s3a.access.key", "spark.hadoop.fs.s3a.secret.key")

# py4j resolves a bare class name (PySpark asks for ``functions`` on every ``F.*`` call, and for
# ``SparkSession``/``PythonUtils`` on most DataFrame calls) by trying ``Class.forName`` under each of
# PySpark's wildcard imports in turn, and every miss searches each jar on the class path (~250 here).
# Importing the exact names makes each lookup a single hit.
PY4J_EXACT_IMPORTS = ("org.apache.spark.sql.functions", "org.apache.spark.sql.SparkSession",
                      "org.apache.spark.sql.SparkSession$", "org.apache.spark.api.python.PythonUtils",
                      "org.apache.spark.api.python.PythonRDD", "org.apache.spark.api.python.SerDeUtil",
                      "org.apache.spark.sql.api.python.PythonSQLUtils")

# The AWS SDK (S3A) builds a SAX parser for every S3 listing response, and without this property the JDK's
# XMLReaderFactory looks for a provider through the service files of every jar each time. Naming the JDK's
# own parser (the one that lookup ends with anyway) skips it.
# Hudi's record size estimates use JOL, which on first use tries to attach an agent to its own JVM and then
# starts a second JVM to attach the Serviceability Agent (both refused here, with a warning in the log);
# its plain Unsafe-based layout needs neither.
JVM_OPTIONS = " ".join(["-Dorg.xml.sax.driver=com.sun.org.apache.xerces.internal.parsers.SAXParser",
                        "-Djol.skipDynamicAttach=true", "-Djol.skipInstallAttach=true",
                        "-Djol.skipHotspotSAAttach=true"])


PIPELINE_JARS = "pipeline"   # infra.layout.PIPELINE_JARS (infra is not imported by the code location)


def default_jars_dir() -> str:
    from infra.layout import Layout

    return str(Layout().spark_jars_dir)


def require_hudi(jars: list[str], jars_dir: str) -> None:
    if not any("hudi-spark" in j for j in jars):
        raise FileNotFoundError(f"no Hudi bundle in {jars_dir}; run ./infra/bootstrap.sh (or ./deploy.sh) to install the Spark jars")


def spark_conf(jars_dir: str, s3_endpoint: str, access_key: str, secret_key: str,
               master: str, driver_memory: str, shuffle_partitions: int, require_jars: bool = True) -> dict[str, str]:
    """``require_jars=False``: build the conf even when the jars are not installed yet (a code location must load
    without them; the resource checks again when a run starts its session)."""
    jars = sorted(str(p) for p in Path(jars_dir).glob("*.jar"))
    # the pipeline's own jar (jvm/, built by the installer into a folder beside the Spark jars)
    jars += sorted(str(p) for p in (Path(jars_dir).parent / PIPELINE_JARS).glob("*.jar"))
    if require_jars:
        require_hudi(jars, jars_dir)
    return {
        "spark.master": master,
        "spark.driver.memory": driver_memory,
        "spark.driver.extraJavaOptions": JVM_OPTIONS,
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
        # credentials: only split off by local_session()/pyspark_resource(), never given to the builder
        "spark.hadoop.fs.s3a.access.key": access_key,
        "spark.hadoop.fs.s3a.secret.key": secret_key,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(s3_endpoint.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        # Hudi 1.2's copy-on-write upsert leaves the S3 stream of each base file it reads unclosed, and the
        # connection under it stays leased (CLOSE-WAIT) for the JVM's life: a session that upserts many times
        # (the integration tests, a long gold build) used up S3A's default pool of 96 and every S3 call then
        # timed out. A larger pool only postpones that; docs/architecture.md ("S3 connections") has the figures.
        "spark.hadoop.fs.s3a.connection.maximum": "1024",
        # Hudi: no metadata-table locking service needed for a single writer per table
        "spark.hadoop.hoodie.metadata.enable": "true",
    }


class LakehouseSparkResource(PySparkResource):
    """dagster-pyspark's resource whose S3 keys are separate fields (EnvVar in the code location, so the UI
    shows the variable's name, never the value) and never part of ``spark_config``/the JVM's command line.
    ``background``: the run's process drops its CPU priority before the Spark JVM starts (batch layers) —
    the JVM inherits the niceness from its first instruction, so its start-up (class loading, JIT: several
    CPU-seconds) no longer competes with the bronze stream; renicing afterwards came too late for it."""

    s3_access_key: str = ""
    s3_secret_key: str = ""
    background: bool = False

    def setup_for_execution(self, context) -> None:
        jars = [j for j in self.spark_config.get("spark.jars", "").split(",") if j]
        require_hudi(jars, str(Path(jars[0]).parent) if jars else default_jars_dir())
        if self.background:
            run_as_background(None)
        self._spark_session = start_session(self.spark_config, self.s3_access_key, self.s3_secret_key)


def pyspark_resource(s3_endpoint: str, access_key: str, secret_key: str, jars_dir: str | None = None,
                     master: str = "local[2]", driver_memory: str = "2g", shuffle_partitions: int = 4,
                     extra_conf: dict[str, str] | None = None, background: bool = False) -> LakehouseSparkResource:
    """The Spark resource for Hudi on S3A with the locally installed jars. ``access_key``/``secret_key``: plain
    strings or ``dg.EnvVar`` (resolved when the run starts)."""
    conf = {**spark_conf(jars_dir or default_jars_dir(), s3_endpoint, "", "", master, driver_memory,
                         shuffle_partitions, require_jars=False), **(extra_conf or {})}
    public, _ = split_credentials(conf)
    return LakehouseSparkResource(spark_config=public, s3_access_key=access_key, s3_secret_key=secret_key,
                                  background=background)


def split_credentials(conf: dict[str, str]) -> tuple[dict[str, str], tuple[str, str]]:
    """(conf without the S3A keys, (access key, secret key)) — the keys go to the JVM separately."""
    public = {k: v for k, v in conf.items() if k not in S3A_CREDENTIAL_KEYS}
    return public, (conf.get(S3A_CREDENTIAL_KEYS[0], ""), conf.get(S3A_CREDENTIAL_KEYS[1], ""))


@contextmanager
def _environment_without_secrets() -> Iterator[None]:
    """The JVM is a child of this process and inherits its environment; a Dagster run's process holds the
    Dagster database password and the S3 keys, which the JVM needs neither of (it gets the S3 keys over py4j)."""
    removed = {k: os.environ.pop(k) for k in list(os.environ)
               if is_secret_name(k) and not k.startswith(("PYSPARK_", "SPARK_"))}  # Spark's own handshake stays
    try:
        yield
    finally:
        os.environ.update(removed)


def start_session(conf: dict[str, str], access_key: str = "", secret_key: str = "", app_name: str | None = None):
    """Start (or reuse) the SparkSession for ``conf`` (no credentials in it) and give its Hadoop configuration
    the S3 keys. Nothing secret reaches the JVM's argv or environment."""
    from pyspark.sql import SparkSession

    leaked = [k for k in conf if k in S3A_CREDENTIAL_KEYS]
    if leaked:
        raise ValueError(f"spark conf {leaked[0]!r} would put a credential on the JVM's command line; "
                         "pass it as access_key/secret_key")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # stay on loopback, never the machine's public interface
    builder = SparkSession.builder
    if app_name:
        builder = builder.appName(app_name)
    for k, v in conf.items():
        builder = builder.config(k, v)
    with _environment_without_secrets():
        session = builder.getOrCreate()
    from py4j.java_gateway import java_import

    for name in PY4J_EXACT_IMPORTS:
        java_import(session._jvm, name)
    cache_class_misses(session)
    hadoop = session.sparkContext._jsc.hadoopConfiguration()
    if access_key and secret_key:
        hadoop.set("fs.s3a.access.key", access_key)
        hadoop.set("fs.s3a.secret.key", secret_key)
    return session


MISS_CACHING_STRATEGY = "cryptopipeline.py4j.MissCachingClassLoadingStrategy"


def cache_class_misses(session) -> bool:
    """Make py4j remember the class names it did not find (``jvm/src/cryptopipeline/py4j``): every
    ``jvm.a.b.C`` path and every name PySpark asks for is otherwise searched through all jars again on
    each use. False when the pipeline's jar is not on the class path (lookups then work as py4j's own)."""
    from py4j.java_gateway import JavaClass
    from py4j.protocol import Py4JError

    client = session.sparkContext._gateway._gateway_client
    util = JavaClass("py4j.reflection.ReflectionUtil", client)  # by its full name: no lookup of its own
    current = util.getClassLoadingStrategy()
    if current.getClass().getName() == MISS_CACHING_STRATEGY:
        return True  # a reused session
    try:
        strategy = JavaClass(MISS_CACHING_STRATEGY, client)(current)
    except Py4JError as e:
        log.warning("py4j class-name lookups are not cached (%s not loadable: %s); the pipeline's jar is built "
                    "by ./infra/bootstrap.sh", MISS_CACHING_STRATEGY, str(e).splitlines()[0])
        return False
    util.setClassLoadingStrategy(strategy)
    return True


def local_session(conf: dict[str, str], app_name: str = "crypto-pipeline"):
    """A SparkSession from spark_conf() outside a Dagster run (tests, benchmarks, ad-hoc jobs); the S3A keys in
    ``conf`` are applied through :func:`start_session`, not the command line."""
    public, (access_key, secret_key) = split_credentials(conf)
    return start_session(public, access_key, secret_key, app_name)


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
