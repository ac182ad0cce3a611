"""Service settings: config/streaming.yaml overridden by environment variables (same error style as
shared/settings.py: file, field, value). Symbols come from shared/symbols.py."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.kafka_connection import DEFAULT_MECHANISM, KafkaConnection
from shared.settings import ROOT, SettingsError, format_validation_error, load_stack_settings, read_yaml_mapping

STREAMING_FILE = ROOT / "config" / "streaming.yaml"
SourceName = Literal["binance", "simulator", "replay", "auto"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Endpoint(_Strict):
    ws_url: str | None = None
    rest_url: str | None = None
    ca_file: str | None = None  # PEM CA bundle trusted for wss:// and https:// (e.g. the simulator's local CA)


class ConnectionSettings(_Strict):
    max_streams_per_connection: int = Field(default=1024, ge=1, le=1024)
    max_url_chars: int = Field(default=4000, ge=200)
    max_age_s: float = Field(default=82800, gt=0, le=86000)
    overlap_s: float = Field(default=10, ge=0)
    stall_timeout_s: float = Field(default=60, gt=0)
    ping_interval_s: float | None = 30
    ping_timeout_s: float | None = 30  # kept for config compatibility; aiohttp waits ping_interval_s / 2 for a pong
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30, gt=0)
    max_frame_bytes: int = Field(default=1024 * 1024, ge=1024)


class BackfillSettings(_Strict):
    enabled: bool = True
    weight_budget: float = Field(default=0.5, gt=0, le=1)
    weight_limit: int = Field(default=6000, ge=1)
    max_pending_per_stream: int = Field(default=200_000, ge=10)
    max_attempts: int = Field(default=8, ge=1)
    request_timeout_s: float = Field(default=10, gt=0)


class KafkaSettings(_Strict):
    bootstrap_servers: str = "127.0.0.1:9092"
    compression: Literal["lz4", "zstd", "snappy", "gzip", "none"] = "lz4"
    linger_ms: int = Field(default=5, ge=0)
    batch_size: int = Field(default=1_000_000, ge=1024)
    buffer_max_messages: int = Field(default=500_000, ge=100)
    buffer_max_kbytes: int = Field(default=262_144, ge=1024)
    flush_timeout_s: float = Field(default=30, ge=0)
    poll_every: int = Field(default=1000, ge=1)
    resume_scan: int = Field(default=20_000, ge=0)
    latency_sample: int = Field(default=16, ge=1)  # every Nth record measures event -> ack latency
    message_timeout_s: float = Field(default=300, gt=0)  # librdkafka retries this long, then the record is a gap
    mark_interval_s: float = Field(default=1.0, gt=0)    # how often a stream's confirmed position is sampled
    redeliver_interval_s: float = Field(default=5.0, gt=0)  # how often undelivered ids are refilled
    redeliver_max_attempts: int = Field(default=20, ge=1)   # REST failures before a hole is declared unfillable
    positions_file: str = "var/streaming/positions.json"    # STREAMING_POSITIONS_FILE; relative to the repo root
    # authentication (shared/kafka_connection.py): the service's own SASL user from the environment, never the file
    security_protocol: str = ""                              # KAFKA_SECURITY_PROTOCOL ("" = by whether a user is set)
    sasl_mechanism: str = DEFAULT_MECHANISM                  # KAFKA_SASL_MECHANISM
    sasl_username: str = ""                                  # KAFKA_SASL_USERNAME
    sasl_password: str = Field(default="", repr=False)       # KAFKA_SASL_PASSWORD
    extra: dict[str, Any] = {}

    @model_validator(mode="after")
    def _connection_is_consistent(self) -> "KafkaSettings":
        self.connection()  # a SASL protocol without a user, an unknown mechanism: refused at load, named
        return self

    def connection(self) -> KafkaConnection:
        return KafkaConnection(self.bootstrap_servers, username=self.sasl_username, password=self.sasl_password,
                               mechanism=self.sasl_mechanism, protocol=self.security_protocol)


class ValidationSettings(_Strict):
    max_future_ms: int = Field(default=300_000, ge=0)


class HealthSettings(_Strict):
    """Thresholds above which /healthz is 503 (streaming/health.py); counted over the last ``window_s``."""
    window_s: float = Field(default=300, gt=0)
    max_dlq_per_min: float = Field(default=10, ge=0)
    max_delivery_failures: int = Field(default=0, ge=0)
    max_unfilled: int = Field(default=0, ge=0)
    max_undelivered_pending: int = Field(default=0, ge=0)


class MetricsSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)


class ArchiveSettings(_Strict):
    enabled: bool = False
    prefix: str = "raw/binance"
    batch_max_lines: int = Field(default=50_000, ge=1)
    batch_max_s: float = Field(default=60, gt=0)
    max_pending_batches: int = Field(default=20, ge=1)
    s3_endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    bucket: str | None = None


class StreamingSettings(_Strict):
    source: SourceName = "auto"
    binance: Endpoint = Endpoint(ws_url="wss://stream.binance.com:9443", rest_url="https://api.binance.com")
    simulator: Endpoint = Endpoint()
    replay: Endpoint = Endpoint()
    auto_probe_timeout_s: float = Field(default=3.0, gt=0)
    connection: ConnectionSettings = ConnectionSettings()
    backfill: BackfillSettings = BackfillSettings()
    kafka: KafkaSettings = KafkaSettings()
    validation: ValidationSettings = ValidationSettings()
    metrics: MetricsSettings = MetricsSettings()
    health: HealthSettings = HealthSettings()
    archive: ArchiveSettings = ArchiveSettings()


# env var -> dotted field
ENV_OVERRIDES: dict[str, str] = {
    "STREAM_SOURCE": "source",
    "BINANCE_WS_URL": "binance.ws_url", "BINANCE_REST_URL": "binance.rest_url",
    "SIMULATOR_WS_URL": "simulator.ws_url", "SIMULATOR_REST_URL": "simulator.rest_url",
    "SIMULATOR_CA_FILE": "simulator.ca_file",
    "REPLAY_WS_URL": "replay.ws_url", "REPLAY_REST_URL": "replay.rest_url",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka.bootstrap_servers",
    "KAFKA_SECURITY_PROTOCOL": "kafka.security_protocol", "KAFKA_SASL_MECHANISM": "kafka.sasl_mechanism",
    "KAFKA_SASL_USERNAME": "kafka.sasl_username", "KAFKA_SASL_PASSWORD": "kafka.sasl_password",
    "STREAMING_METRICS_HOST": "metrics.host", "STREAMING_METRICS_PORT": "metrics.port",
    "STREAM_ARCHIVE": "archive.enabled", "STREAMING_POSITIONS_FILE": "kafka.positions_file",
    "S3_ENDPOINT": "archive.s3_endpoint", "MINIO_ROOT_USER": "archive.access_key",
    "MINIO_ROOT_PASSWORD": "archive.secret_key", "MINIO_BUCKET": "archive.bucket",
}
SECRET_ENV = {"MINIO_ROOT_PASSWORD", "MINIO_ROOT_USER", "KAFKA_SASL_PASSWORD"}


def _set(raw: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = raw.get(p)
        if not isinstance(node, dict):
            node = raw[p] = {}
        raw = node
    raw[parts[-1]] = value


def load_streaming_settings(path: Path = STREAMING_FILE, env: dict[str, str] | None = None,
                            overrides: dict[str, Any] | None = None) -> StreamingSettings:
    """File, then env, then ``overrides`` (dotted keys, used by the CLI and tests)."""
    env = os.environ if env is None else env
    raw = read_yaml_mapping(path)
    used = []
    for var, dotted in ENV_OVERRIDES.items():
        if env.get(var):
            _set(raw, dotted, env[var])
            used.append(var)
    for dotted, value in (overrides or {}).items():
        _set(raw, dotted, value)
    # default simulator endpoint: the stack's simulator port (config/stack.yaml, SIMULATOR_PORT)
    if not (raw.get("simulator") or {}).get("ws_url") or not (raw.get("simulator") or {}).get("rest_url"):
        try:
            st = load_stack_settings(env=dict(env))
            host, port = st.bind_host, st.simulator.port
        except SettingsError:
            host, port = "127.0.0.1", 8765
        sim = raw.setdefault("simulator", {}) or {}
        raw["simulator"] = sim
        sim["ws_url"] = sim.get("ws_url") or f"ws://{host}:{port}"
        sim["rest_url"] = sim.get("rest_url") or f"http://{host}:{port}"
    try:
        return StreamingSettings.model_validate(raw)
    except ValidationError as exc:
        src = str(path) + (f" (with env overrides {', '.join(used)})" if used else "")
        msg = format_validation_error(exc, src)
        for var in SECRET_ENV:  # never echo credentials
            if env.get(var):
                msg = msg.replace(env[var], "***")
        raise SettingsError(msg) from None
