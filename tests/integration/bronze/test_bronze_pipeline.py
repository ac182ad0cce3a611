"""Bronze end to end on real Kafka, MinIO, Spark+Hudi and a PostgreSQL-backed Dagster instance.

The phases share one bucket and one topic prefix and run in order (creating 7 Hudi tables is the
expensive part, so it is paid once): simulator trades -> Kafka -> bronze via materialize(); a new
symbol topic picked up by the CLI path the UI uses; SIGKILL mid-write then rerun (exactly once);
retention loss fails loudly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from dagster import AssetKey, DagsterInstance, materialize

from crypto_pipeline.assets.bronze.assets import bronze_ingest
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.hudi import read_checkpoint
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from crypto_pipeline.resources.locks import BronzeLocksResource
from crypto_pipeline.resources.s3 import S3Resource
from crypto_pipeline.resources.spark import pyspark_resource
from infra.dagster_config import write_dagster_home
from shared.envelope import Source, build_envelope, topic_for
from tests.integration.bronze.helpers import Feed, create_topic, make_bucket

ROOT = Path(__file__).resolve().parents[3]
TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xb{TAG}.*"


def sym(name: str) -> str:
    return f"XB{TAG}{name}".upper()


@pytest.fixture(scope="module")
def ctx(kafka_stack, minio_stack, postgres_stack, tmp_path_factory):
    stack = kafka_stack
    env = stack.env()
    bucket = make_bucket(env["S3_ENDPOINT"], env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"])
    env.update(MINIO_BUCKET=bucket, BRONZE_TOPIC_PATTERN=PATTERN)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    home = tmp_path_factory.mktemp("dagster_home")
    write_dagster_home(home, stack.layout.root)
    instance = DagsterInstance.from_config(str(home))
    resources = {
        "kafka": KafkaResource(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], topic_pattern=PATTERN),
        "s3": S3Resource(endpoint=env["S3_ENDPOINT"], access_key=env["MINIO_ROOT_USER"],
                         secret_key=env["MINIO_ROOT_PASSWORD"], bucket=bucket),
        "spark": pyspark_resource(env["S3_ENDPOINT"], env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"],
                                  driver_memory="1g", shuffle_partitions=2),
        "bronze_locks": BronzeLocksResource(host=env["DAGSTER_PG_HOST"], port=int(env["DAGSTER_PG_PORT"]),
                                            user=env["DAGSTER_PG_USERNAME"], password=env["DAGSTER_PG_PASSWORD"],
                                            dbname=env["DAGSTER_PG_DB"]),
    }
    yield {"env": {**os.environ, **env, "DAGSTER_HOME": str(home)}, "bucket": bucket, "instance": instance,
           "resources": resources, "bootstrap": env["KAFKA_BOOTSTRAP_SERVERS"], "feed": Feed(env["KAFKA_BOOTSTRAP_SERVERS"]),
           "cli_cwd": str(tmp_path_factory.mktemp("cli"))}
    instance.dispose()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _session():
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()


def _run(ctx, **config):
    run_config = {"ops": {"bronze_ingest": {"config": config}}} if config else None
    return materialize([bronze_ingest], instance=ctx["instance"], resources=ctx["resources"], run_config=run_config,
                       raise_on_error=False)


def _trades(ctx, symbol: str):
    df = _session().read.format("hudi").load(bronze_path(ctx["bucket"], "trades")).where(f"symbol = '{symbol}'")
    return [(r.trade_id, r.kafka_offset) for r in df.select("trade_id", "kafka_offset").collect()]


def _ends(bootstrap: str) -> dict:
    return KafkaResource(bootstrap_servers=bootstrap, topic_pattern=PATTERN).end_offsets()


def test_simulator_trades_to_bronze_via_dagster(ctx):
    from binance_sim import SimConfig, SymbolSpec, run_in_thread

    a = sym("A")
    sim = run_in_thread(SimConfig(symbols=[SymbolSpec(a, price="100.00", rate=400.0)]))
    try:
        time.sleep(3)
        with urllib.request.urlopen(f"{sim.rest_url}/api/v3/trades?symbol={a}&limit=1000", timeout=30) as r:
            rest = json.loads(r.read())
    finally:
        sim.stop()
    assert len(rest) > 100
    create_topic(ctx["bootstrap"], a)
    f = ctx["feed"]
    stream = f"{a.lower()}@trade"
    for r in rest:  # REST rows mapped to the stream shape, as streaming/backfill.py does
        f.send(a, stream, {"e": "trade", "E": r["time"], "s": a, "t": r["id"], "p": r["price"], "q": r["qty"],
                           "T": r["time"], "m": r["isBuyerMaker"], "M": True})
    f.klines(a, range(3))
    f.others(a, 3)
    f.send(a, stream, raw=b"{not json")
    f.send(a, stream, raw=build_envelope(stream, a, Source.SIMULATOR, {"e": "trade", "E": 1, "s": a, "t": 10**12,
                                                                     "p": "-1", "q": "1", "T": 1, "m": False}, 5))
    f.flush()

    res = _run(ctx)
    assert res.success
    inst = ctx["instance"]
    assert type(inst.run_storage).__name__ == "PostgresRunStorage"
    ids = sorted(t for t, _ in _trades(ctx, a))
    assert ids == sorted(r["id"] for r in rest)                  # nothing lost, nothing doubled
    assert ids == list(range(ids[0], ids[0] + len(ids)))         # dense trade ids in the table
    meta = inst.get_latest_materialization_event(AssetKey("bronze_trades")).asset_materialization.metadata
    assert meta["rows_written"].value == len(rest) and "e2e_latency_max_ms" in meta
    assert meta["write_operation"].value == "insert"            # dense ids checked: no index lookup
    klines = inst.get_latest_materialization_event(AssetKey("bronze_klines")).asset_materialization.metadata
    assert klines["rows_written"].value == 6 and klines["write_operation"].value == "upsert"
    q = inst.get_latest_materialization_event(AssetKey("bronze_quarantine")).asset_materialization.metadata
    assert q["quarantine_reasons"].value == {"unparsable_envelope": 1, "trades:non_positive_price": 1}
    checks = {e.check_name: e.passed for e in res.get_asset_check_evaluations()}
    assert checks["trade_id_continuity"] and checks["record_key_unique"] and checks["schema_matches_contract"]
    kl = _session().read.format("hudi").load(bronze_path(ctx["bucket"], "klines")).where(f"symbol = '{a}'").collect()
    assert len(kl) == 3 and all(r.is_closed for r in kl)        # the closing update won per key
    for table in ("agg_trades", "tickers", "depth", "book_ticker"):
        assert _session().read.format("hudi").load(bronze_path(ctx["bucket"], table)).where(f"symbol = '{a}'").count() > 0


def _cli(ctx) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "crypto_pipeline.definitions",
           "--select", ",".join(t.asset_name for t in BRONZE_TABLES.values())]  # the multi-asset is not subsettable
    # cwd outside the repo: the dagster CLI loads ./.env, which would replace the test stack's
    # credentials with the deploy stack's
    env = {**ctx["env"], "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, cwd=ctx["cli_cwd"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_new_symbol_topic_via_cli_no_code_change(ctx):
    b = sym("NEW")
    create_topic(ctx["bootstrap"], b)
    ctx["feed"].trades(b, range(1, 301))
    ctx["feed"].flush()
    p = _cli(ctx)
    out, _ = p.communicate(timeout=480)
    assert p.returncode == 0, out.decode(errors="replace")[-3000:]
    assert sorted(t for t, _ in _trades(ctx, b)) == list(range(1, 301))


def test_kill_mid_write_then_rerun_is_exactly_once(ctx):
    a = sym("A")
    before = {t for t, _ in _trades(ctx, a)}
    start = max(before) + 1
    new_ids = range(start, start + 20000)
    ctx["feed"].trades(a, new_ids)
    ctx["feed"].flush()
    ends = _ends(ctx["bootstrap"])
    p = _cli(ctx)
    client = ctx["resources"]["s3"].client()
    deadline = time.monotonic() + 480
    began = False
    while time.monotonic() < deadline and p.poll() is None:  # wait until a Hudi write of this run is in flight
        names = [o.object_name for o in client.list_objects(ctx["bucket"], "bronze/", recursive=True)
                 if ".hoodie/timeline/" in o.object_name and (o.object_name.endswith(".inflight") or o.object_name.endswith(".requested"))]
        if names:
            began = True
            break
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(30)
    assert began, "the run never began a Hudi write"
    res = _run(ctx)
    assert res.success
    rows = _trades(ctx, a)
    ids = [t for t, _ in rows]
    assert len(ids) == len(set(ids))                              # no duplicates
    assert set(ids) == before | set(new_ids)                      # none missing
    ckpt = off.decode(read_checkpoint(_session(), bronze_path(ctx["bucket"], "trades")))
    assert {t: {p: hi for p, (_lo, hi) in ps.items()} for t, ps in ends.items()} == \
        {t: {p: o for p, o in ckpt[t].items()} for t in ends}    # offsets continue exactly at the log end


def test_retention_loss_fails_loudly_and_records_range(ctx):
    c = sym("LOST")
    topic = create_topic(ctx["bootstrap"], c, partitions=1)
    ctx["feed"].trades(c, range(1, 21))
    ctx["feed"].flush()
    admin = AdminClient({"bootstrap.servers": ctx["bootstrap"]})
    fut = admin.delete_records([TopicPartition(topic, 0, 10)])   # retention drops offsets 0..9 never read
    list(fut.values())[0].result(30)
    res = _run(ctx)
    assert not res.success
    failure = [e for e in res.all_events if e.is_step_failure][0]
    assert "lost ranges" in failure.step_failure_data.error.message and f"{topic}[0] 0..10" in failure.step_failure_data.error.message
    client = ctx["resources"]["s3"].client()
    records = [o.object_name for o in client.list_objects(ctx["bucket"], "bronze/_ingest_log/", recursive=True)]
    assert records
    body = json.loads(client.get_object(ctx["bucket"], records[-1]).read())
    assert {"topic": topic, "partition": 0, "from": 0, "to": 10} in body["lost"]
    # acknowledged: the run continues from the earliest offset and keeps the record
    res = _run(ctx, accept_data_loss=True)
    assert res.success
    assert sorted(t for t, _ in _trades(ctx, c)) == list(range(11, 21))
