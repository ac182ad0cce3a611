"""The bronze-writer service as the stack runs it (the ServiceSpec of infra/services.py, started by the test
stack), on real Kafka, MinIO, PostgreSQL, Spark+Hudi and a Dagster webserver:

1. it commits a live feed and reports runless materialisations and check evaluations to Dagster;
2. a manual ``bronze_ingest`` (the CLI the UI's launch uses) writing at the same time as the service: the
   writer locks serialise them -> both commit trades, no id missing or doubled.

Faults (the writer SIGKILLed mid-commit, the Kafka broker killed, MinIO restarted): test_writer_faults.py."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from crypto_pipeline.bronze.checks import specs as check_specs
from crypto_pipeline.lakehouse.hudi import CHECKPOINT_KEY, RUN_ID_KEY, completed_commits
from crypto_pipeline.lakehouse.tables import bronze_path
from infra.services import dagster_home
from tests.integration.bronze.helpers import create_topic, make_bucket, stack_spark
from tests.integration.bronze.writer_harness import WRITER, LiveFeed, caught_up, status, trade_ids, wait_for

ROOT = Path(__file__).resolve().parents[3]
TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xw{TAG}.*"
SYMBOL = f"XW{TAG}A".upper()


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


def _trade_ids(svc) -> list[int]:
    return trade_ids(svc["spark"], svc["bucket"], SYMBOL)


def _caught_up(svc) -> None:
    caught_up(svc["spark"], svc["bucket"], svc["bootstrap"], PATTERN)


def _status(svc) -> dict:
    return status(svc["stack"].settings.bronze_writer.health_port)


def test_writer_commits_a_live_feed_and_reports_runless_events(svc):
    feed = LiveFeed(svc["bootstrap"], SYMBOL).start()
    try:
        svc["stack"].start(WRITER, timeout=240, env=svc["writer_env"])
        wait_for("the writer's first check evaluation", lambda: _status(svc).get("last_checks_age_s") is not None, 240, 2)
    finally:
        last = feed.stop()
    _caught_up(svc)
    ids = _trade_ids(svc)
    assert sorted(ids) == list(range(1, last + 1))
    inst = svc["instance"]
    mat = wait_for("a bronze_trades materialisation in Dagster",
                   lambda: inst.get_latest_materialization_event(AssetKey("bronze_trades")), 60)
    assert mat.run_id == ""                                              # runless: no run behind it
    meta = mat.asset_materialization.metadata
    assert meta["writer"].value == WRITER and meta["rows_written"].value > 0 and "kafka_checkpoint" in meta
    assert "freshness_at_commit_p50_ms" in meta
    keys = [AssetCheckKey(AssetKey(a), c) for a, c, _ in check_specs()]
    latest = inst.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    assert set(latest) == set(keys)                                      # every bronze check executed
    outcome = {k.to_user_string(): r.status.value for k, r in latest.items()}
    assert set(outcome.values()) == {"SUCCEEDED"}, outcome               # and none failed


def _cli(svc, home: Path, cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "crypto_pipeline.definitions", "--select",
           "bronze_trades,bronze_agg_trades,bronze_klines,bronze_tickers,bronze_depth,bronze_book_ticker,bronze_quarantine"]
    env = {**os.environ, **svc["env"], "MINIO_BUCKET": svc["bucket"], "BRONZE_TOPIC_PATTERN": PATTERN,
           "DAGSTER_HOME": str(home), "PYTHONPATH": str(ROOT), "SPARK_BATCH_NICENESS": "0"}
    # cwd outside the repo: the dagster CLI loads ./.env, which would replace the test stack's credentials
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_manual_ingest_beside_the_service_is_serialised_by_the_writer_locks(svc, tmp_path):
    feed = LiveFeed(svc["bootstrap"], SYMBOL, max(_trade_ids(svc)) + 1).start()
    try:
        svc["stack"].start(WRITER, timeout=240, env=svc["writer_env"])  # running since the last test
        p = _cli(svc, dagster_home(svc["stack"].layout), tmp_path)
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out.decode(errors="replace")[-3000:]
        cycles = _status(svc)["cycles"]
        wait_for("the service committing after the manual run", lambda: _status(svc)["cycles"] >= cycles + 2, 120)
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
