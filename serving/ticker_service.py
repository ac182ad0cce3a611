"""serving-ticker: the live consumer that keeps `latest_ticker` current from the raw Kafka topics.

Loop: consume a batch (trade, ticker, miniTicker and bookTicker streams of every `crypto_raw_*` topic;
other streams are skipped by their message key, unparsed) -> keep the newest update per symbol and kind
-> apply them in ONE database transaction (event-order guards, NOTIFY serving_ticker per changed row) ->
only then commit the batch's Kafka offsets. A crash between the two commits replays the batch, which the
guards turn into no-ops; a database outage holds the batch and retries it. Bad records are counted and
logged and never stop the loop.

`python -m serving.ticker_service` (infra/services.py runs it under supervisord; /healthz and /metrics on
127.0.0.1:SERVING_TICKER_PORT). Reports a runless materialisation of `serving_latest_ticker` to Dagster."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from serving.db import WRITER_ROLE, ServingDsn
from shared.kafka_connection import KafkaConnection
from serving.ticker_events import BadRecord, newest, parse, wanted
from serving.ticker_store import apply_updates

log = logging.getLogger("serving.ticker")
ASSET_KEY = "serving_latest_ticker"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("ticker_messages", "Kafka messages seen, by outcome", ["outcome"], registry=r)
        self.changed = Counter("ticker_rows_changed", "latest_ticker row parts changed (guards passed)", registry=r)
        self.commits = Counter("ticker_db_commits", "database transactions committed", registry=r)
        self.db_errors = Counter("ticker_db_errors", "failed database transactions (batch retried)", registry=r)
        self.lag = Histogram("ticker_event_to_commit_seconds", "exchange event time -> database commit",
                             buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30), registry=r)
        self.last_loop = Gauge("ticker_last_loop_timestamp", "unix time of the last completed loop", registry=r)


class TickerConsumer:
    """One consumer + one database connection; `step()` is one batch (tests drive it directly)."""

    def __init__(self, bootstrap: KafkaConnection | str, dsn: ServingDsn, group_id: str = "serving-ticker",
                 topic_pattern: str = r"^crypto_raw_.*", offset_reset: str = "latest", batch: int = 1000,
                 poll_timeout: float = 0.05, metrics: Metrics | None = None,
                 after_db_commit: Callable[[], None] | None = None) -> None:
        self.dsn, self.batch, self.poll_timeout = dsn, batch, poll_timeout
        self.metrics = metrics or Metrics()
        self.after_db_commit = after_db_commit  # test hook: a crash between the two commits
        self.consumer = Consumer(KafkaConnection.of(bootstrap).client_config(**{
            "group.id": group_id, "enable.auto.commit": False,  # the pipeline's Kafka user: groups serving-ticker*
            "auto.offset.reset": offset_reset, "topic.metadata.refresh.interval.ms": 30_000,
            "fetch.wait.max.ms": 50, "client.id": "serving-ticker"}))
        self.consumer.subscribe([topic_pattern])
        self.conn: psycopg.Connection | None = None
        self.pending: tuple[list, list[TopicPartition]] | None = None  # a batch the database refused
        self.bad_logged = 0

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = self.dsn.connect(autocommit=True, application_name="serving-ticker")
        return self.conn

    def _bad(self, msg, reason: str) -> None:
        self.metrics.messages.labels("bad").inc()
        self.bad_logged += 1
        if self.bad_logged <= 100 or self.bad_logged % 1000 == 0:  # a flood of bad records must not flood the log
            log.warning("bad record %s[%d]@%d (key %r): %s (%d so far)", msg.topic(), msg.partition(), msg.offset(),
                        msg.key(), reason, self.bad_logged)

    def _collect(self, msgs) -> tuple[list, list[TopicPartition]]:
        updates, ends = [], {}
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka error: %s", m.error())
                continue
            ends[(m.topic(), m.partition())] = m.offset() + 1
            if not wanted(m.key()):
                self.metrics.messages.labels("skipped").inc()
                continue
            try:
                updates.extend(parse(m.value()))
                self.metrics.messages.labels("parsed").inc()
            except BadRecord as exc:
                self._bad(m, str(exc))
        return newest(updates), [TopicPartition(t, p, o) for (t, p), o in ends.items()]

    def step(self) -> int:
        """One batch; returns the number of row parts changed. Raises only on a database error (retried)."""
        if self.pending is None:
            msgs = self.consumer.consume(num_messages=self.batch, timeout=self.poll_timeout)
            if not msgs:
                self.metrics.last_loop.set_to_current_time()
                return 0
            self.pending = self._collect(msgs)
        updates, offsets = self.pending
        changed = 0
        if updates:
            try:
                changed = apply_updates(self._connection(), updates)
            except psycopg.Error:
                self.metrics.db_errors.inc()
                if self.conn is not None:
                    self.conn.close()
                raise
            now = time.time()
            self.metrics.commits.inc()
            self.metrics.changed.inc(changed)
            for u in updates:
                self.metrics.lag.observe(max(0.0, now - u.event_time_ms / 1000))
        if self.after_db_commit is not None:
            self.after_db_commit()
        if offsets:  # only now: what the database holds is what Kafka may forget
            self.consumer.commit(offsets=offsets, asynchronous=False)
        self.pending = None
        self.metrics.last_loop.set_to_current_time()
        return changed

    def close(self) -> None:
        self.consumer.close()
        if self.conn is not None:
            self.conn.close()


class DagsterReporter:
    """Runless materialisations of the asset through the webserver's REST endpoint (best effort)."""

    def __init__(self, url: str | None, every_s: float = 60.0) -> None:
        self.url, self.every_s, self.changed = url, every_s, 0
        self.last: float | None = None

    def add(self, changed: int) -> None:
        self.changed += changed
        if not self.url or not self.changed or (self.last is not None and time.monotonic() - self.last < self.every_s):
            return
        body = json.dumps({"metadata": {"rows_changed": self.changed}, "description": "serving-ticker"}).encode()
        req = urllib.request.Request(f"{self.url}/report_asset_materialization/{ASSET_KEY}", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            urllib.request.urlopen(req, timeout=5).read()
            self.changed = 0
        except OSError as exc:
            log.info("could not report to Dagster (%s); will retry", exc)
        self.last = time.monotonic()


def serve_health(host: str, port: int, metrics: Metrics, stale_after_s: float = 30.0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path == "/metrics":
                body, code = generate_latest(metrics.registry), 200
            elif self.path == "/healthz":
                age = time.time() - metrics.last_loop._value.get()
                ok = age < stale_after_s
                body, code = (b"ok\n" if ok else f"no completed loop for {age:.0f}s\n".encode()), (200 if ok else 503)
            else:
                body, code = b"not found\n", 404
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # health probes every second would drown the log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()
    return server


def run(consumer: TickerConsumer, stop: threading.Event, reporter: DagsterReporter) -> None:
    backoff = 0.5
    while not stop.is_set():
        try:
            reporter.add(consumer.step())
            backoff = 0.5
        except psycopg.Error as exc:
            log.error("database error, batch kept and retried in %.1fs: %s", backoff, exc)
            stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)
        except KafkaException as exc:
            # e.g. the offset commit after a rebalance took the partitions away: the rows are committed, the
            # partitions' new owner replays from the last committed offsets, which the guards make harmless
            log.warning("kafka offset commit failed, batch will be replayed by the partitions' owner: %s", exc)
            consumer.pending = None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m serving.ticker_service", description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    ap.add_argument("--host", default=os.environ.get("SERVING_TICKER_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("SERVING_TICKER_PORT", "9109")))
    ap.add_argument("--group", default=os.environ.get("SERVING_TICKER_GROUP", "serving-ticker"))
    ap.add_argument("--offset-reset", default=os.environ.get("SERVING_TICKER_OFFSET_RESET", "latest"),
                    choices=["latest", "earliest"], help="where a new consumer group starts")
    ap.add_argument("--dagster-url", default=os.environ.get("DAGSTER_URL"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    metrics = Metrics()
    metrics.last_loop.set_to_current_time()
    # the login (the pipeline's read-only Kafka user) comes from the environment only, never from argv
    kafka = replace(KafkaConnection.from_env(), bootstrap=args.bootstrap)
    consumer = TickerConsumer(kafka, ServingDsn.from_env(WRITER_ROLE), args.group,
                              offset_reset=args.offset_reset, metrics=metrics)
    server = serve_health(args.host, args.port, metrics)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("serving-ticker consuming %s -> latest_ticker; health on http://%s:%d/healthz", args.bootstrap,
             args.host, args.port)
    try:
        run(consumer, stop, DagsterReporter(args.dagster_url))
    finally:
        consumer.close()
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
