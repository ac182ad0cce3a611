"""The dashboard's settings, from the environment infra/services.py gives only to this service.

Errors name the variable and its value (never a password's value)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A missing or invalid environment variable; the message names it."""


@dataclass(frozen=True)
class DashboardConfig:
    host: str
    port: int
    pg_host: str
    pg_port: int
    pg_db: str
    pg_user: str
    pg_password: str
    vendor_dir: Path                 # the installer's copy of lightweight-charts
    streaming_status_url: str | None  # the ingest service's /status (source, DLQ counts)
    dagster_url: str | None          # bronze freshness: latest runless materialisations
    pool_max: int = 8
    cache_entries: int = 256         # serialised candle pages kept until a sync of their symbol

    def conninfo(self) -> dict[str, object]:
        return {"host": self.pg_host, "port": self.pg_port, "dbname": self.pg_db, "user": self.pg_user,
                "password": self.pg_password, "application_name": "dashboard", "connect_timeout": 5}


def _int(env: dict[str, str], name: str, default: str | None = None, lo: int = 1, hi: int = 65535) -> int:
    raw = env.get(name, default)
    if raw is None:
        raise ConfigError(f"environment variable {name} is not set")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} = {raw!r}: not an integer") from None
    if not lo <= value <= hi:
        raise ConfigError(f"environment variable {name} = {value}: must be between {lo} and {hi}")
    return value


def _req(env: dict[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(f"environment variable {name} is not set (./deploy.sh generates it into .env)")
    return value


def load_config(env: dict[str, str] | None = None) -> DashboardConfig:
    env = dict(os.environ if env is None else env)
    from infra.layout import Layout

    return DashboardConfig(
        host=env.get("DASHBOARD_HOST", "127.0.0.1"),
        port=_int(env, "DASHBOARD_PORT", "8050"),
        pg_host=env.get("SERVING_PG_HOST", "127.0.0.1"),
        pg_port=_int(env, "SERVING_PG_PORT"),
        pg_db=env.get("SERVING_PG_DB", "serving"),
        pg_user=_req(env, "SERVING_READER_USER"),
        pg_password=_req(env, "SERVING_READER_PASSWORD"),
        vendor_dir=Path(env.get("DASHBOARD_VENDOR_DIR") or Layout().dashboard_vendor),
        streaming_status_url=env.get("STREAMING_STATUS_URL") or None,
        dagster_url=env.get("DAGSTER_URL") or None,
        pool_max=_int(env, "DASHBOARD_POOL_MAX", "8", 1, 64),
        cache_entries=_int(env, "DASHBOARD_CACHE_ENTRIES", "256", 0, 100_000),
    )
