"""Stack settings: config/stack.yaml, overridden by environment variables, plus the generated
credentials in .env. Validation errors name the file, the field and the offending value."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ROOT = Path(__file__).resolve().parent.parent
STACK_FILE = ROOT / "config" / "stack.yaml"

Port = Field(ge=1, le=65535)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Strict):
    port: int = Port
    controller_port: int = Port
    heap: str = "768m"
    # SASL/SCRAM + ACLs (docs/security.md); only throw-away test brokers turn it off (infra/local_stack.py)
    sasl: bool = True


class MinioSettings(_Strict):
    port: int = Port
    console_port: int = Port
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{2,62}$")


class PostgresSettings(_Strict):
    port: int = Port
    dagster_db: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    serving_db: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")


class DagsterSettings(_Strict):
    port: int = Port


class SimulatorSettings(_Strict):
    port: int = Port
    rate: float = Field(20.0, gt=0, le=10_000)   # mean trades/s per symbol (load tests raise it)


class StreamingSettings(_Strict):
    metrics_port: int = Port


class DashboardSettings(_Strict):
    port: int = Port


class ServingSettings(_Strict):
    ticker_port: int = Field(9109, ge=1, le=65535)


class BronzeWriterSettings(_Strict):
    health_port: int = Port


class StackSettings(_Strict):
    bind_host: str = "127.0.0.1"
    kafka: KafkaSettings
    minio: MinioSettings
    postgres: PostgresSettings
    dagster: DagsterSettings
    simulator: SimulatorSettings
    streaming: StreamingSettings
    serving: ServingSettings = ServingSettings()
    dashboard: DashboardSettings
    bronze_writer: BronzeWriterSettings

    def ports(self) -> dict[str, int]:
        return {
            "kafka": self.kafka.port, "kafka-controller": self.kafka.controller_port,
            "minio": self.minio.port, "minio-console": self.minio.console_port,
            "postgres": self.postgres.port, "dagster-webserver": self.dagster.port,
            "simulator": self.simulator.port, "streaming": self.streaming.metrics_port,
            "serving-ticker": self.serving.ticker_port,
            "dashboard": self.dashboard.port,
            "bronze-writer": self.bronze_writer.health_port,
        }

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.bind_host}:{self.kafka.port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.bind_host}:{self.minio.port}"


# env var -> (section, field); docker-compose.yml uses the same names
ENV_OVERRIDES: dict[str, tuple[str | None, str]] = {
    "STACK_BIND_HOST": (None, "bind_host"),
    "KAFKA_PORT": ("kafka", "port"),
    "KAFKA_CONTROLLER_PORT": ("kafka", "controller_port"),
    "KAFKA_HEAP": ("kafka", "heap"),
    "MINIO_PORT": ("minio", "port"),
    "MINIO_CONSOLE_PORT": ("minio", "console_port"),
    "MINIO_BUCKET": ("minio", "bucket"),
    "POSTGRES_PORT": ("postgres", "port"),
    "POSTGRES_DAGSTER_DB": ("postgres", "dagster_db"),
    "POSTGRES_SERVING_DB": ("postgres", "serving_db"),
    "DAGSTER_PORT": ("dagster", "port"),
    "SIMULATOR_PORT": ("simulator", "port"),
    "SIMULATOR_RATE": ("simulator", "rate"),
    "STREAMING_METRICS_PORT": ("streaming", "metrics_port"),
    "SERVING_TICKER_PORT": ("serving", "ticker_port"),
    "DASHBOARD_PORT": ("dashboard", "port"),
    "BRONZE_WRITER_PORT": ("bronze_writer", "health_port"),
}


# the env vars that hold a port: isolated copies of the stack (tests, benchmarks) set them all to free ports
PORT_ENV_VARS = tuple(var for var, (_, field) in ENV_OVERRIDES.items() if field.endswith("port"))


class SettingsError(ValueError):
    """Invalid configuration; the message names file, field and value."""


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        lines.append(f"{source}: field '{field}' = {err.get('input')!r}: {err['msg']}")
    return "\n".join(lines)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML config file as a dict; every failure is a SettingsError that names the file."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise SettingsError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    return raw


def load_stack_settings(path: Path = STACK_FILE, env: dict[str, str] | None = None) -> StackSettings:
    env = os.environ if env is None else env
    raw = read_yaml_mapping(path)
    sources = []
    for var, (section, field) in ENV_OVERRIDES.items():
        if var in env:
            target = raw if section is None else raw.setdefault(section, {})
            target[field] = env[var]
            sources.append(var)
    try:
        return StackSettings.model_validate(raw)
    except ValidationError as exc:
        src = str(path) + (f" (with env overrides {', '.join(sources)})" if sources else "")
        raise SettingsError(format_validation_error(exc, src)) from None
