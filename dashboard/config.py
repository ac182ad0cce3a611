"""The dashboard's settings, from the environment infra/services.py gives only to this service.

Errors name the variable and its value (never a password's value)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from serving.db import READER_ROLE, ServingDsn


class ConfigError(ValueError):
    """A missing or invalid environment variable; the message names it."""


@dataclass(frozen=True)
class DashboardConfig:
    host: str
    port: int
    serving: ServingDsn               # the read-only `reader` role
    vendor_dir: Path                 # the installer's copy of lightweight-charts
    streaming_status_url: str | None  # the ingest service's /status (source, DLQ counts)
    dagster_url: str | None          # bronze freshness: latest runless materialisations
    pool_max: int = 8
    pool_timeout_s: float = 5.0      # a request waits this long for a connection, then gets a 503
    cache_mb: int = 64               # serialised candle pages kept until the next candles sync (a day of 1m: ~1 MB)

    def conninfo(self) -> dict[str, object]:
        s = self.serving
        return {"host": s.host, "port": s.port, "dbname": s.dbname, "user": s.user, "password": s.password,
                "application_name": "dashboard", "connect_timeout": 5}


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


def _serving(env: dict[str, str]) -> ServingDsn:
    _int(env, "SERVING_PG_PORT")
    try:
        return ServingDsn.from_env(READER_ROLE, env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def load_config(env: dict[str, str] | None = None) -> DashboardConfig:
    env = dict(os.environ if env is None else env)
    from infra.layout import Layout

    return DashboardConfig(
        host=env.get("DASHBOARD_HOST", "127.0.0.1"),
        port=_int(env, "DASHBOARD_PORT", "8050"),
        serving=_serving(env),
        vendor_dir=Path(env.get("DASHBOARD_VENDOR_DIR") or Layout().dashboard_vendor),
        streaming_status_url=env.get("STREAMING_STATUS_URL") or None,
        dagster_url=env.get("DAGSTER_URL") or None,
        pool_max=_int(env, "DASHBOARD_POOL_MAX", "8", 1, 64),
        cache_mb=_int(env, "DASHBOARD_CACHE_MB", "64", 0, 65_536),
    )
