"""Real health checks (a protocol-level answer, not just an open port). Each returns None when healthy
or a short reason when not, so callers can show why a service is down."""
from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.kafka_connection import KafkaConnection


def tcp_open(host: str, port: int, timeout: float = 1.0) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"port {port} closed ({exc.strerror or exc})"


def http_ok(url: str, timeout: float = 2.0, body: bytes | None = None, ca_file: Path | None = None) -> str | None:
    """None when ``url`` answers 2xx; ``ca_file``: the only CA trusted for https (the simulator's local CA)."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} if body else {})
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file)) if ca_file and url.startswith("https") else None
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} from {url}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"


def kafka_ok(kafka: "KafkaConnection | str", timeout: float = 3.0) -> str | None:
    """The broker answers a metadata request (authenticated as ``kafka``'s user when it has one)."""
    from confluent_kafka.admin import AdminClient

    from shared.kafka_connection import KafkaConnection

    conn = KafkaConnection.of(kafka)
    host, port = conn.bootstrap.rsplit(":", 1)
    if (err := tcp_open(host, int(port))) is not None:
        return err
    errors: list[str] = []  # e.g. a refused SASL login, which the metadata timeout alone would not name
    admin = AdminClient(conn.client_config(log_level=0, error_cb=lambda e: errors.append(e.str())))
    try:
        md = admin.list_topics(timeout=timeout)
    except Exception as exc:  # KafkaException carries the broker's reason
        admin.poll(0)  # serves the error callbacks
        return f"metadata request failed: {exc}" + (f" ({errors[-1]})" if errors else "")
    return None if md.brokers else "no broker in metadata"


def minio_ok(endpoint: str) -> str | None:
    return http_ok(f"{endpoint}/minio/health/ready")


def postgres_ok(host: str, port: int, user: str, password: str, dbname: str = "postgres") -> str | None:
    import psycopg

    try:
        with psycopg.connect(host=host, port=port, user=user, password=password, dbname=dbname,
                             connect_timeout=3) as conn:
            conn.execute("select 1").fetchone()
        return None
    except psycopg.Error as exc:
        return f"cannot connect: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"


def dagster_graphql(base_url: str, query: str, timeout: float = 5.0) -> dict:
    req = urllib.request.Request(f"{base_url}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def dagster_daemon_ok(base_url: str) -> str | None:
    """Healthy when the webserver reports the scheduler and sensor daemons alive (heartbeats in Postgres)."""
    q = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"
    try:
        data = dagster_graphql(base_url, q)
        statuses = data["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
    except Exception as exc:
        return f"cannot ask the webserver for daemon health: {exc}"
    bad = [s["daemonType"] for s in statuses if s["required"] and not s["healthy"]]
    return None if not bad else f"daemons not healthy yet: {', '.join(bad)}"
