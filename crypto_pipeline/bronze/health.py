"""The bronze-writer's health: what ``/healthz`` and ``/status`` answer (served on ``BRONZE_WRITER_PORT``).

Why it probes Kafka and S3 itself: a cycle that meets a dead broker or object store does not fail at once —
librdkafka and S3A retry for tens of seconds to minutes — and a health that only looked at the last completed
cycle stayed green for minutes of an outage. A TCP connect to each dependency per probe costs a millisecond
and names the one that is down; the failures of the cycles themselves (retried by the service) are reported
too, with how long they have lasted."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlparse

from infra.health import tcp_open

if TYPE_CHECKING:
    from crypto_pipeline.bronze.loop import Cycle

Probe = Callable[[], "str | None"]


def tcp_problem(address: str) -> str | None:
    """None when ``host:port`` accepts a connection, else why not (naming the address)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return f"{address}: no port"
    err = tcp_open(host.strip("[]"), int(port))
    return None if err is None else f"{address}: {err}"


def dependency_probe(bootstrap: str, s3_endpoint: str) -> Probe:
    """A probe naming the writer's unreachable dependency: the Kafka cluster (when none of its bootstrap
    servers answers) or the S3 endpoint."""
    brokers = [b.strip() for b in bootstrap.split(",") if b.strip()]
    u = urlparse(s3_endpoint)
    s3 = f"{u.hostname}:{u.port or (443 if u.scheme == 'https' else 80)}"

    def probe() -> str | None:
        down = [tcp_problem(b) for b in brokers]
        if all(down):
            return f"Kafka unreachable ({'; '.join(d for d in down if d)})"
        if (err := tcp_problem(s3)) is not None:
            return f"S3 unreachable ({err})"
        return None

    return probe


def describe(exc: BaseException, limit: int = 300) -> str:
    """One line for an exception (a Java exception's own message, not py4j's stack trace)."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString()) if java is not None else str(exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:limit]}"


class Health:
    """Healthy: the Spark session is up, Kafka and S3 answer (``probe``), the last cycle did not fail, and a
    trades cycle completed within ``stale_s`` (or the loop started less than ``stale_s`` ago)."""

    def __init__(self, stale_s: float = 300.0, probe: Probe | None = None) -> None:
        self.stale_s, self.probe = stale_s, probe
        self.started: float | None = None        # monotonic time the loop started
        self.last_fast: float | None = None
        self.last_slow: float | None = None
        self.last_checks: float | None = None
        self.cycles = 0
        self.failure: str | None = None          # a condition that needs an operator (retention loss)
        self.error: str | None = None            # the failure of the cycles being retried; cleared by the next cycle
        self.failing_since: float | None = None
        self.status: dict[str, Any] = {}

    def cycle(self, c: Cycle) -> None:
        self.cycles += 1
        now = time.monotonic()
        self.error = self.failing_since = None
        if c.full:
            self.last_slow = now
        else:
            self.last_fast = now
        self.status["last_cycle"] = {"full": c.full, "seconds": round(c.result.seconds, 2),
                                     "rows": {n: t.rows for n, t in c.result.tables.items() if t.rows},
                                     "freshness_ms": c.freshness_ms}

    def failed(self, exc: BaseException) -> float:
        """Record a failed cycle; returns for how long cycles have been failing (seconds)."""
        now = time.monotonic()
        self.failing_since = self.failing_since or now
        self.error = describe(exc)
        return now - self.failing_since

    def problem(self) -> str | None:
        now = time.monotonic()
        if self.failure:
            return self.failure
        if self.started is None:
            return "starting (Spark session not up yet)"
        if self.probe is not None and (down := self.probe()) is not None:
            return down
        if self.error:
            return f"writes failing for {now - (self.failing_since or now):.0f}s, retrying: {self.error}"
        ref = self.last_fast or self.started
        if now - ref > self.stale_s:
            return f"no trades cycle completed for {now - ref:.0f}s"
        return None

    def as_json(self) -> dict[str, Any]:
        now = time.monotonic()
        age = lambda t: None if t is None else round(now - t, 1)  # noqa: E731
        problem = self.problem()
        return {"healthy": problem is None, "problem": problem, "cycles": self.cycles,
                "last_fast_cycle_age_s": age(self.last_fast), "last_slow_cycle_age_s": age(self.last_slow),
                "last_checks_age_s": age(self.last_checks), "last_error": self.error,
                "failing_for_s": age(self.failing_since), **self.status}


def serve_health(host: str, port: int, health: Health) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/healthz":
                problem = health.problem()
                code, body = (200, b"ok\n") if problem is None else (503, (problem + "\n").encode())
            elif self.path == "/status":
                code, body = 200, json.dumps(health.as_json(), default=str).encode()
            else:
                code, body = 404, b"not found: /healthz or /status\n"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # health probes every few seconds would flood the log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="bronze-writer-health", daemon=True).start()
    return server
