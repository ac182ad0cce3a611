"""Credentials generated on first deploy into a git-ignored env file (mode 0600). No defaults exist:
a stack without the file refuses to start rather than fall back to a well-known password."""
from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from infra.private_files import write_private

# name -> generator. KAFKA_CLUSTER_ID is not a secret but must stay stable across restarts.
GENERATED = {
    "POSTGRES_USER": lambda: "cdp",
    "POSTGRES_PASSWORD": lambda: secrets.token_urlsafe(24),
    "MINIO_ROOT_USER": lambda: "cdp-" + secrets.token_hex(4),
    "MINIO_ROOT_PASSWORD": lambda: secrets.token_urlsafe(30),
    "KAFKA_CLUSTER_ID": lambda: base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
    # serving database roles (serving/roles.py): the pipeline's writer and the read-only reader
    "SERVING_WRITER_PASSWORD": lambda: secrets.token_urlsafe(24),
    "SERVING_READER_PASSWORD": lambda: secrets.token_urlsafe(24),
    # least privilege (docs/security.md): Dagster's storage role, the pipeline's MinIO user, the simulator's
    # control-API token
    "POSTGRES_DAGSTER_USER": lambda: "dagster_storage",
    "POSTGRES_DAGSTER_PASSWORD": lambda: secrets.token_urlsafe(24),
    "MINIO_PIPELINE_USER": lambda: "cdp-pipeline-" + secrets.token_hex(4),
    "MINIO_PIPELINE_PASSWORD": lambda: secrets.token_urlsafe(30),
    "SIMULATOR_CONTROL_TOKEN": lambda: secrets.token_urlsafe(24),
    # Kafka SASL/SCRAM users (infra/kafka_config.py:KAFKA_USERS) and the controller listener's SASL/PLAIN secret
    "KAFKA_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(24),
    "KAFKA_STREAMING_PASSWORD": lambda: secrets.token_urlsafe(24),
    "KAFKA_PIPELINE_PASSWORD": lambda: secrets.token_urlsafe(24),
    "KAFKA_CONTROLLER_PASSWORD": lambda: secrets.token_urlsafe(24),
}


@dataclass(frozen=True)
class Credentials:
    postgres_user: str
    postgres_password: str
    minio_user: str
    minio_password: str
    kafka_cluster_id: str
    serving_writer_password: str = ""
    serving_reader_password: str = ""
    dagster_pg_user: str = ""
    dagster_pg_password: str = ""
    pipeline_s3_user: str = ""
    pipeline_s3_password: str = ""
    simulator_token: str = ""
    kafka_admin_password: str = ""
    kafka_streaming_password: str = ""
    kafka_pipeline_password: str = ""
    kafka_controller_password: str = ""

    def as_env(self) -> dict[str, str]:
        return {
            "POSTGRES_USER": self.postgres_user, "POSTGRES_PASSWORD": self.postgres_password,
            "MINIO_ROOT_USER": self.minio_user, "MINIO_ROOT_PASSWORD": self.minio_password,
            "KAFKA_CLUSTER_ID": self.kafka_cluster_id,
            "SERVING_WRITER_PASSWORD": self.serving_writer_password,
            "SERVING_READER_PASSWORD": self.serving_reader_password,
            "POSTGRES_DAGSTER_USER": self.dagster_pg_user, "POSTGRES_DAGSTER_PASSWORD": self.dagster_pg_password,
            "MINIO_PIPELINE_USER": self.pipeline_s3_user, "MINIO_PIPELINE_PASSWORD": self.pipeline_s3_password,
            "SIMULATOR_CONTROL_TOKEN": self.simulator_token,
            "KAFKA_ADMIN_PASSWORD": self.kafka_admin_password,
            "KAFKA_STREAMING_PASSWORD": self.kafka_streaming_password,
            "KAFKA_PIPELINE_PASSWORD": self.kafka_pipeline_password,
            "KAFKA_CONTROLLER_PASSWORD": self.kafka_controller_password,
        }

    def __repr__(self) -> str:  # never print secrets by accident
        return f"Credentials(postgres_user={self.postgres_user!r}, minio_user={self.minio_user!r}, secrets=***)"


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ValueError(f"{path}:{n}: expected NAME=value, got {line[:40]!r}")
        k, v = line.split("=", 1)
        values[k.strip()] = v.strip().strip('"')
    return values


def _from_values(values: dict[str, str], path: Path) -> Credentials:
    missing = [k for k in GENERATED if not values.get(k)]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}; run ./deploy.sh to complete it")
    return Credentials(values["POSTGRES_USER"], values["POSTGRES_PASSWORD"], values["MINIO_ROOT_USER"],
                       values["MINIO_ROOT_PASSWORD"], values["KAFKA_CLUSTER_ID"],
                       serving_writer_password=values["SERVING_WRITER_PASSWORD"],
                       serving_reader_password=values["SERVING_READER_PASSWORD"],
                       dagster_pg_user=values["POSTGRES_DAGSTER_USER"],
                       dagster_pg_password=values["POSTGRES_DAGSTER_PASSWORD"],
                       pipeline_s3_user=values["MINIO_PIPELINE_USER"],
                       pipeline_s3_password=values["MINIO_PIPELINE_PASSWORD"],
                       simulator_token=values["SIMULATOR_CONTROL_TOKEN"],
                       kafka_admin_password=values["KAFKA_ADMIN_PASSWORD"],
                       kafka_streaming_password=values["KAFKA_STREAMING_PASSWORD"],
                       kafka_pipeline_password=values["KAFKA_PIPELINE_PASSWORD"],
                       kafka_controller_password=values["KAFKA_CONTROLLER_PASSWORD"])


def ensure_credentials(path: Path) -> tuple[Credentials, bool]:
    """Load the env file, generating missing entries (only those) on first use. Returns (creds, created)."""
    values = read_env_file(path) if path.exists() else {}
    added = {k: gen() for k, gen in GENERATED.items() if not values.get(k)}
    if added:
        lines = [] if not path.exists() else [path.read_text().rstrip("\n")]
        if not path.exists():
            lines.append("# Generated by ./deploy.sh on first run. Secret: never commit, never paste.")
        lines += [f"{k}={v}" for k, v in added.items()]
        write_private(path, "\n".join(lines) + "\n")
        values.update(added)
    return _from_values(values, path), bool(added)


def load_credentials(path: Path) -> Credentials:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: credentials are generated by ./deploy.sh on first run")
    return _from_values(read_env_file(path), path)
