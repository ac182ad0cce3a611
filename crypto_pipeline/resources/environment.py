"""Resources chosen per environment. The deploy stack (and tests) export the connection settings as
environment variables (see infra/services.py:dagster_env); a real S3 or Kafka is the same variables."""
from __future__ import annotations

import os

from crypto_pipeline.resources.kafka import KafkaResource
from crypto_pipeline.resources.locks import BronzeLocksResource
from crypto_pipeline.resources.s3 import S3Resource
from crypto_pipeline.resources.spark import pyspark_resource
from shared.kafka_connection import DEFAULT_MECHANISM


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise KeyError(f"environment variable {name} is not set; the deploy stack sets it from .env and config/stack.yaml")
    return value


def kafka_resource() -> KafkaResource:
    """The pipeline's Kafka login when the stack sets one (infra/services.py:dagster_env); the password is an
    EnvVar, resolved in the run's process — the webserver, which only loads the definitions, does not hold it."""
    from dagster import EnvVar

    user = os.environ.get("KAFKA_SASL_USERNAME", "")
    auth = {"security_protocol": os.environ.get("KAFKA_SECURITY_PROTOCOL", ""),
            "sasl_mechanism": os.environ.get("KAFKA_SASL_MECHANISM") or DEFAULT_MECHANISM}
    if user:
        auth.update(sasl_username=user, sasl_password=EnvVar("KAFKA_SASL_PASSWORD"))
    # BRONZE_TOPIC_PATTERN narrows which raw topics bronze reads (tests, staged roll-outs); default: all
    return KafkaResource(bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                         topic_pattern=os.environ.get("BRONZE_TOPIC_PATTERN", r"^crypto_raw_.*"), **auth)


def resources_from_env() -> dict:
    """Resources for the code location; values resolve lazily at run time via EnvVar where secret."""
    from dagster import EnvVar

    endpoint = os.environ.get("S3_ENDPOINT", "http://127.0.0.1:9000")
    return {
        "kafka": kafka_resource(),
        # the pipeline's own S3 user (lakehouse bucket only), not MinIO's root: see docs/security.md
        "s3": S3Resource(endpoint=endpoint, access_key=EnvVar("S3_ACCESS_KEY"),
                         secret_key=EnvVar("S3_SECRET_KEY"), bucket=os.environ.get("MINIO_BUCKET", "lakehouse")),
        # batch runs (silver, a manual bronze_ingest) yield the CPU to the stream from their first instruction
        "spark": pyspark_resource(endpoint, EnvVar("S3_ACCESS_KEY"), EnvVar("S3_SECRET_KEY"), background=True),
        # one writer per bronze table across processes (the bronze-writer service and manual runs)
        "bronze_locks": BronzeLocksResource(host=EnvVar("DAGSTER_PG_HOST"), port=EnvVar.int("DAGSTER_PG_PORT"),
                                            user=EnvVar("DAGSTER_PG_USERNAME"), password=EnvVar("DAGSTER_PG_PASSWORD"),
                                            dbname=EnvVar("DAGSTER_PG_DB")),
    }
