"""The bronze-writer service as the stack runs it (the ServiceSpec of infra/services.py, started by the test
stack), on real Kafka, MinIO, PostgreSQL, Spark+Hudi and a Dagster webserver:

1. it commits a live feed and reports runless materialisations and check evaluations to Dagster;
2. SIGKILL while a trades commit is in flight -> the fixture restarts it -> no trade id missing or doubled;
3. a manual ``bronze_ingest`` (the CLI the UI's launch uses) writing at the same time as the service: the
   writer locks serialise them -> both commit trades, no id missing or doubled."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.hudi import CHECKPOINT_KEY, RUN_ID_KEY, completed_commits, read_checkpoint
from crypto_pipeline.lakehouse.tables import bronze_path
from crypto_pipeline.bronze.checks import specs as check_specs
from crypto_pipeline.resources.kafka import KafkaResource
from infra.services import dagster_home
from tests.integration.bronze.helpers import Feed, create_topic, make_bucket, stack_spark, trade

ROOT = Path(__file__).resolve().parents[3]
TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xw{TAG}.*"
SYMBOL = f"XW{TAG}A".upper()
WRITER = "bronze-writer"


class LiveFeed:
    """~100 trades/s with dense ids, plus the other streams now and then, until stopped."""

    def __init__(self, bootstrap: str) -> None:
        self.feed, self.next_id, self.stop_ = Feed(bootstrap), 1, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self.stop_.is_set():
            now = int(time.time() * 1000)   # recent trades: the freshness check judges them
            for tid in range(self.next_id, self.next_id + 20):
                self.feed.send(SYMBOL, f"{SYMBOL.lower()}@trade", trade(SYMBOL, tid, t=now))
            self.next_id += 20
            if i % 10 == 0:
                self.feed.others(SYMBOL, 1)
            self.feed.flush()
            i += 1
            time.sleep(0.2)

    def start(self) -> "LiveFeed":
        self.thread.start()
        return self

    def stop(self) -> int:
        self.stop_.set()
        self.thread.join(30)
        return self.next_id - 1


@pytest.fixture(scope="module")
def svc(kafka_stack, minio_stack, postgres_stack):
    stack = kafka_stack
    env = stack.env()
    saved = dict(os.environ)
    os.environ.update(env)   # this process' Dagster instance and Spark session use the test stack too
    stack.start("dagster-webserver", timeout=240)
    bucket = make_bucket(env["S3_ENDPOINT"], env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"])
    create_topic(env["KAFKA_BOOTSTRAP_SERVERS"], SYMBOL)
    writer_env = {"MINIO_BUCKET": bucket, "S3_ACCESS_KEY": env["S3_ACCESS_KEY"], "S3_SECRET_KEY": env["S3_SECRET_KEY"],
                  "BRONZE_TOPIC_PATTERN": PATTERN, "BRONZE_FAST_INTERVAL_S": "1",
                  "BRONZE_FULL_EVERY_S": "15", "BRONZE_CHECK_EVERY_S": "0", "BRONZE_REPORT_EVERY_S": "5",
                  "BRONZE_WRITER_DRIVER_MEMORY": "768m"}
    instance = DagsterInstance.from_config(str(dagster_home(stack.layout)))
    spark = stack_spark(env)
    yield {"stack": stack, "env": env, "bucket": bucket, "writer_env": writer_env, "instance": instance,
           "spark": spark, "bootstrap": env["KAFKA_BOOTSTRAP_SERVERS"]}
    stack.stop(WRITER)
    stack.stop("dagster-webserver")
    instance.dispose()
    os.environ.clear()
    os.environ.update(saved)  # later modules (and the unit tests after them) must not inherit this stack's env


def _timeline(svc) -> list[str]:
    client = _minio(svc)
    return [o.object_name.rsplit("/", 1)[1] for o in
            client.list_objects(svc["bucket"], "bronze/trades/.hoodie/timeline/", recursive=False)]


def _minio(svc):
    from urllib.parse import urlparse

    from minio import Minio

    e = svc["env"]
    return Minio(urlparse(e["S3_ENDPOINT"]).netloc, access_key=e["MINIO_ROOT_USER"], secret_key=e["MINIO_ROOT_PASSWORD"],
                 secure=False)


def _pending_commit(names: list[str]) -> str | None:
    """A trades write instant that is in flight: ``<t>.inflight`` with no completed ``<t>_<done>.commit``."""
    done = {n.split("_", 1)[0] for n in names if n.endswith(".commit")}
    flying = [n.split(".", 1)[0] for n in names if n.endswith(".inflight") and n.count(".") == 1]
    return next((t for t in flying if t not in done), None)


def _trade_ids(svc) -> list[int]:
    df = svc["spark"].read.format("hudi").load(bronze_path(svc["bucket"], "trades")).where(f"symbol = '{SYMBOL}'")
    return [r.trade_id for r in df.select("trade_id").collect()]


def _caught_up(svc, timeout: float = 240) -> None:
    ends = KafkaResource(bootstrap_servers=svc["bootstrap"], topic_pattern=PATTERN).end_offsets()
    want = {t: {p: hi for p, (_lo, hi) in ps.items()} for t, ps in ends.items()}
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = off.decode(read_checkpoint(svc["spark"], bronze_path(svc["bucket"], "trades")))
        if all(got.get(t, {}).get(p, -1) >= hi for t, ps in want.items() for p, hi in ps.items()):
            return
        time.sleep(2)
    raise AssertionError(f"the writer did not reach the Kafka end offsets {want} in {timeout}s (at {got})")


def _status(svc) -> dict:
    port = svc["stack"].settings.bronze_writer.health_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
        return json.loads(r.read())


def test_writer_commits_a_live_feed_and_reports_runless_events(svc):
    feed = LiveFeed(svc["bootstrap"]).start()
    try:
        svc["stack"].start(WRITER, timeout=240, env=svc["writer_env"])
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and _status(svc).get("last_checks_age_s") is None:
            time.sleep(2)
    finally:
        last = feed.stop()
    _caught_up(svc)
    ids = _trade_ids(svc)
    assert sorted(ids) == list(range(1, last + 1))
    inst = svc["instance"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and inst.get_latest_materialization_event(AssetKey("bronze_trades")) is None:
        time.sleep(1)
    mat = inst.get_latest_materialization_event(AssetKey("bronze_trades"))
    assert mat is not None and mat.run_id == ""                         # runless: no run behind it
    meta = mat.asset_materialization.metadata
    assert meta["writer"].value == WRITER and meta["rows_written"].value > 0 and "kafka_checkpoint" in meta
    assert "freshness_at_commit_p50_ms" in meta
    keys = [AssetCheckKey(AssetKey(a), c) for a, c, _ in check_specs()]
    latest = inst.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    assert set(latest) == set(keys)                                      # every bronze check executed
    status = {k.to_user_string(): r.status.value for k, r in latest.items()}
    assert set(status.values()) == {"SUCCEEDED"}, status                 # and none failed


def test_sigkill_mid_commit_then_restart_loses_and_doubles_nothing(svc):
    stack = svc["stack"]
    feed = LiveFeed(svc["bootstrap"])
    feed.next_id = max(_trade_ids(svc)) + 1
    feed.start()
    try:
        deadline, pending = time.monotonic() + 180, None
        while time.monotonic() < deadline and pending is None:
            pending = _pending_commit(_timeline(svc))
        assert pending, "no trades commit was seen in flight"
        stack.kill(WRITER)
        names = _timeline(svc)
        assert _pending_commit(names) == pending                        # killed while that commit was in flight
        assert not any(n.startswith(pending + "_") and n.endswith(".commit") for n in names)
        time.sleep(3)                                                    # trades keep arriving meanwhile
        stack.start(WRITER, timeout=240, env=svc["writer_env"])          # what supervisord does (autorestart)
        time.sleep(10)
    finally:
        last = feed.stop()
    _caught_up(svc)
    ids = _trade_ids(svc)
    assert len(ids) == len(set(ids))                                    # nothing doubled
    assert sorted(ids) == list(range(1, last + 1))                      # nothing lost


def _cli(svc, home: Path, cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "crypto_pipeline.definitions", "--select",
           "bronze_trades,bronze_agg_trades,bronze_klines,bronze_tickers,bronze_depth,bronze_book_ticker,bronze_quarantine"]
    env = {**os.environ, **svc["env"], "MINIO_BUCKET": svc["bucket"], "BRONZE_TOPIC_PATTERN": PATTERN,
           "DAGSTER_HOME": str(home), "PYTHONPATH": str(ROOT), "SPARK_BATCH_NICENESS": "0"}
    # cwd outside the repo: the dagster CLI loads ./.env, which would replace the test stack's credentials
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_manual_ingest_beside_the_service_is_serialised_by_the_writer_locks(svc, tmp_path):
    feed = LiveFeed(svc["bootstrap"])
    feed.next_id = max(_trade_ids(svc)) + 1
    feed.start()
    try:
        svc["stack"].start(WRITER, timeout=240, env=svc["writer_env"])  # running since the last test
        p = _cli(svc, dagster_home(svc["stack"].layout), tmp_path)
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out.decode(errors="replace")[-3000:]
        time.sleep(5)
    finally:
        last = feed.stop()
    _caught_up(svc)
    ids = _trade_ids(svc)
    assert len(ids) == len(set(ids)) and sorted(ids) == list(range(1, last + 1))
    timeline = completed_commits(svc["spark"], bronze_path(svc["bucket"], "trades"))
    writers = []
    for instant in timeline.getInstants():
        extra = timeline.readCommitMetadata(instant).getExtraMetadata()
        if extra.get(CHECKPOINT_KEY):
            writers.append(str(extra.get(RUN_ID_KEY)))
    manual = [i for i, w in enumerate(writers) if not w.startswith("bronze-writer-")]
    assert manual, f"the manual run committed no trades: {writers[-10:]}"
    assert any(w.startswith("bronze-writer-") for w in writers[manual[-1] + 1:]), writers[-10:]  # service went on
    assert any(w.startswith("bronze-writer-") for w in writers[:manual[0]])
