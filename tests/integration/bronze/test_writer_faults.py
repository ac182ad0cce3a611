"""Faults around the bronze-writer service, on the test stack's real Kafka, MinIO and PostgreSQL with the
service started from its ServiceSpec (infra/services.py). Each test feeds dense trade ids of its own symbol
while the fault happens and ends with bronze holding every id produced exactly once:

1. the writer SIGKILLed while a trades commit is in flight (seen on the Hudi timeline), then restarted as
   supervisord does; SIGTERMed (a stop) while a commit is in flight: that commit completes, exit code 0;
2. the Kafka broker SIGKILLed while the writer consumes and commits, down longer than the clients' timeouts,
   then started again on the same port and data directory;
3. MinIO stopped (SIGTERM) while a trades commit is in flight, then started again on the same data directory.

In 2 and 3 the writer keeps running (the same process), its /healthz reports the missing dependency while
it is down and answers 200 again once cycles commit."""
from __future__ import annotations

import signal
import time
import uuid
from types import SimpleNamespace

import pytest

from tests.integration.bronze.helpers import create_topic, make_bucket
from tests.integration.bronze.writer_harness import (WRITER, LiveFeed, caught_up, completed, healthz, minio_client,
                                                     pending_commits, status, timeline, trade_ids, wait_for)

TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xf{TAG}.*"
SYMBOL = f"XF{TAG}A".upper()


@pytest.fixture(scope="module")
def case(kafka_stack, minio_stack, postgres_stack, spark):
    stack, env = kafka_stack, kafka_stack.env()
    bucket = make_bucket(env["S3_ENDPOINT"], env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"])
    create_topic(env["KAFKA_BOOTSTRAP_SERVERS"], SYMBOL)
    # no Dagster webserver here: the writer keeps its events in its backlog; checks are not what is tested
    writer_env = {"MINIO_BUCKET": bucket, "S3_ACCESS_KEY": env["S3_ACCESS_KEY"], "S3_SECRET_KEY": env["S3_SECRET_KEY"],
                  "BRONZE_TOPIC_PATTERN": PATTERN, "BRONZE_FAST_INTERVAL_S": "1", "BRONZE_FULL_EVERY_S": "15",
                  "BRONZE_CHECK_EVERY_S": "3600", "BRONZE_WRITER_DRIVER_MEMORY": "768m"}
    c = SimpleNamespace(stack=stack, env=env, bucket=bucket, spark=spark, bootstrap=env["KAFKA_BOOTSTRAP_SERVERS"],
                        port=stack.settings.bronze_writer.health_port, minio=minio_client(env))
    c.start_writer = lambda: stack.start(WRITER, timeout=240, env=writer_env)
    c.next_id = lambda: max(trade_ids(spark, bucket, SYMBOL), default=0) + 1
    yield c
    stack.stop(WRITER)


def _committing(c, cycles: int = 3) -> int:
    """Wait until the running writer has completed ``cycles`` more cycles; returns its cycle count."""
    start = status(c.port)["cycles"]
    return wait_for(f"{cycles} writer cycles", lambda: (n := status(c.port)["cycles"]) >= start + cycles and n, 240)


def _assert_dense(c, last: int) -> None:
    caught_up(c.spark, c.bucket, c.bootstrap, PATTERN)
    ids = trade_ids(c.spark, c.bucket, SYMBOL)
    assert len(ids) == len(set(ids)), "a trade id is doubled"
    missing = sorted(set(range(1, last + 1)) - set(ids))
    assert not missing and max(ids) == last, f"trade ids missing: {missing[:20]} ({len(missing)})"


def _in_flight(c) -> str:
    """A trades commit in flight right now (polls the timeline quickly: a commit is in flight for ~1 s); not
    one a killed writer left behind."""
    dead = pending_commits(timeline(c.minio, c.bucket))
    new = wait_for("a trades commit in flight", lambda: pending_commits(timeline(c.minio, c.bucket)) - dead, 180, 0.02)
    return min(new)


def test_sigkill_mid_commit_then_restart_loses_and_doubles_nothing(case):
    c = case
    feed = LiveFeed(c.bootstrap, SYMBOL, c.next_id()).start()
    try:
        c.start_writer()
        _committing(c)
        for _ in range(5):   # the commit may complete between seeing it in flight and the kill: try again
            pending = _in_flight(c)
            c.stack.kill(WRITER)
            if not completed(timeline(c.minio, c.bucket), pending):
                break
            c.start_writer()
        else:
            pytest.fail("every commit seen in flight completed before the SIGKILL landed")
        names = timeline(c.minio, c.bucket)
        assert pending in pending_commits(names) and f"{pending}.inflight" in names   # killed mid-commit
        c.start_writer()                                                 # what supervisord does (autorestart)
        _committing(c)                                                   # the new process commits the feed on
    finally:
        last = feed.stop()
    _assert_dense(c, last)
    assert not completed(timeline(c.minio, c.bucket), pending)           # the killed commit never became visible


def test_sigterm_mid_commit_finishes_the_commit_and_exits_0(case):
    """``./stop.sh``: supervisord's SIGTERM goes to the writer's driver, not its Spark JVM, so the cycle in flight
    commits and the process exits 0 (a SIGTERMed JVM failed that commit and the process exited with an error)."""
    c = case
    feed = LiveFeed(c.bootstrap, SYMBOL, c.next_id()).start()
    try:
        c.start_writer()
        _committing(c)
        pending = _in_flight(c)
        assert c.stack.stop(WRITER) == 0
        assert completed(timeline(c.minio, c.bucket), pending)           # finished, not abandoned
        c.start_writer()
        _committing(c)
    finally:
        last = feed.stop()
    _assert_dense(c, last)


def _outage(c, service: str, sig: signal.Signals, dependency: str, down_s: float, mid_commit: bool) -> None:
    """``service`` down for ``down_s`` while the feed runs and the writer commits; the writer process survives,
    reports ``dependency`` in /healthz while it is down and commits again after; bronze ends dense."""
    feed = LiveFeed(c.bootstrap, SYMBOL, c.next_id()).start()
    try:
        c.start_writer()
        pid = c.stack.procs[WRITER].pid
        _committing(c)
        if mid_commit:
            _in_flight(c)
        with c.stack.outage(service, sig):
            down = time.monotonic()
            code, body = wait_for(f"/healthz to report {service} down",
                                  lambda: (h := healthz(c.port))[0] == 503 and h, 60, 0.5)
            assert dependency in body, body
            # the fault lasts longer than the clients' timeouts; the writer stays up and keeps reporting it
            while time.monotonic() - down < down_s:
                assert c.stack.procs[WRITER].poll() is None, f"the writer exited while {service} was down"
                code, body = healthz(c.port)
                assert code == 503, f"/healthz answered {code} {body!r} while {service} was down"
                time.sleep(1)
        wait_for("/healthz to answer 200 again", lambda: healthz(c.port)[0] == 200, 300)
        _committing(c)
        assert c.stack.procs[WRITER].pid == pid and c.stack.procs[WRITER].poll() is None   # the same process
    finally:
        last = feed.stop()
    _assert_dense(c, last)


def test_kafka_broker_sigkill_during_writes_loses_and_doubles_nothing(case):
    # librdkafka gives up a request after 30 s and a connection after 60 s; the driver read waits 30 s
    _outage(case, "kafka", signal.SIGKILL, "Kafka", down_s=75, mid_commit=False)


def test_minio_restart_mid_commit_loses_and_doubles_nothing(case):
    _outage(case, "minio", signal.SIGTERM, "S3", down_s=45, mid_commit=True)
