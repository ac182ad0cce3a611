"""Resources chosen per environment. The deploy stack (and tests) export the connection settings as
environment variables (see infra/services.py:dagster_env); a real S3 or Kafka is the same variables."""
from __future__ import annotations

import os
from pathlib import Path

from crypto_pipeline.resources.kafka import KafkaResource
from crypto_pipeline.resources.s3 import S3Resource
from crypto_pipeline.resources.spark import pyspark_resource


# Spark FAIR pools of the bronze stream's two loops (trades first)
FAIR_POOLS = Path(__file__).resolve().parents[2] / "config" / "spark" / "fairscheduler.xml"

# A Spark session that runs all day, thousands of small queries an hour (the bronze stream). Measured on the
# deploy stack's stream JVM after 30 min (jstat, class histogram): 800 concurrent GC cycles (one every 2 s,
# 7 % of wall time in pauses) with ~160 MB of strings live — the status store keeps 1,000 SQL executions with
# their plan text even with the UI off, and these plans (JSON payload schemas) are large; and the JIT
# compiling 3–4 methods a second all along (a fifth of a core) while 9,000 generated classes were unloaded:
# Spark's cache of generated code (100 entries) is smaller than one slow cycle's set of queries, so the same
# code was generated, loaded and compiled again every cycle.
RESIDENT_SESSION: dict[str, str] = {
    "spark.sql.ui.retainedExecutions": "20",
    "spark.ui.retainedJobs": "50",
    "spark.ui.retainedStages": "50",
    "spark.ui.retainedTasks": "2000",
    "spark.sql.codegen.cache.maxEntries": "2000",
}


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise KeyError(f"environment variable {name} is not set; the deploy stack sets it from .env and config/stack.yaml")
    return value


def resources_from_env() -> dict:
    """Resources for the code location; values resolve lazily at run time via EnvVar where secret."""
    from dagster import EnvVar

    endpoint = os.environ.get("S3_ENDPOINT", "http://127.0.0.1:9000")
    return {
        # BRONZE_TOPIC_PATTERN narrows which raw topics bronze reads (tests, staged roll-outs); default: all
        "kafka": KafkaResource(bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                               topic_pattern=os.environ.get("BRONZE_TOPIC_PATTERN", r"^crypto_raw_.*")),
        # the pipeline's own S3 user (lakehouse bucket only), not MinIO's root: see docs/security.md
        "s3": S3Resource(endpoint=endpoint, access_key=EnvVar("S3_ACCESS_KEY"),
                         secret_key=EnvVar("S3_SECRET_KEY"), bucket=os.environ.get("MINIO_BUCKET", "lakehouse")),
        # batch runs (silver, a manual bronze_ingest) yield the CPU to the stream from their first instruction
        "spark": pyspark_resource(endpoint, EnvVar("S3_ACCESS_KEY"), EnvVar("S3_SECRET_KEY"), background=True),
        # the long-running bronze_stream_job: small bounded batches, so a smaller heap (it is resident all day)
        "spark_stream": pyspark_resource(endpoint, EnvVar("S3_ACCESS_KEY"), EnvVar("S3_SECRET_KEY"),
                                         driver_memory=os.environ.get("BRONZE_STREAM_DRIVER_MEMORY", "1g"),
                                         # 6 task slots on 2 cores: tasks are not preemptible, and the slow
                                         # loop's parse/write tasks (seconds each) held both slots of local[2]
                                         # while trade cycles queued behind them; with local[4] a trade cycle
                                         # still waited 19 s for a slot during a clustering pass (its
                                         # one-group tasks run for tens of seconds). Now a trade stage (2
                                         # tasks) always finds free slots and the OS shares the cores.
                                         master="local[6]",
                                         shuffle_partitions=2,
                                         # its cached batches live for one cycle: compressing them cost more
                                         # CPU (profiled) than the memory it saves
                                         extra_conf={"spark.sql.inMemoryColumnarStorage.compressed": "false",
                                                     # stages stay 2 tasks wide, so the slow loop cannot take
                                                     # the trades' slots with one stage
                                                     "spark.default.parallelism": "2",
                                                     # two loops share the session; FAIR pools keep trades
                                                     # from queuing behind the slow loop's stages
                                                     "spark.scheduler.mode": "FAIR",
                                                     "spark.scheduler.allocation.file": str(FAIR_POOLS),
                                                     **RESIDENT_SESSION}),
    }
