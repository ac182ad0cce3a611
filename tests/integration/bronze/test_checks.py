"""The bronze checks on a real Hudi table, evaluated as the writer service does (one Checker, several
evaluations): after the first, each evaluation reads only the commits made since; a gap between two
evaluations, a duplicate of an old key and a duplicate inside the new commits all fail their checks,
a backfill below the checked ids does not, and a duplicate found stays failing until it is gone."""
from __future__ import annotations

import uuid

from crypto_pipeline.bronze import checks
from crypto_pipeline.bronze.job import run_bronze
from crypto_pipeline.lakehouse.hudi import hudi_options
from crypto_pipeline.lakehouse.tables import TRADES, bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from tests.integration.bronze.helpers import bronze_case

TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xck{TAG}.*"


def test_checks_follow_new_commits_and_fail_on_gaps_and_duplicates(kafka_stack, minio_stack):
    sym = f"XCK{TAG}".upper()
    case = bronze_case(kafka_stack, sym)
    spark, bucket = case.spark, case.bucket
    kafka = KafkaResource(bootstrap_servers=case.bootstrap, topic_pattern=PATTERN)
    path = bronze_path(bucket, "trades")
    checker = checks.Checker()
    written = checks.Written()

    def cycle(ids) -> None:
        case.feed.trades(sym, ids)
        case.feed.flush()
        t = run_bronze(spark, bucket, case.bootstrap, PATTERN, kafka.end_offsets(), tables=("trades",)).tables["trades"]
        written.add(t.rows, t.partitions, TRADES.partition, 1000)

    def insert_copy(trade_id: int) -> None:
        """A second row with an existing key, written past the writer's dedup (a plain Hudi insert)."""
        row = spark.read.format("hudi").load(path).where(f"symbol = '{sym}' AND trade_id = {trade_id}")
        row.select(*(c for c, _ in TRADES.columns)).write.format("hudi").options(
            **hudi_options(TRADES, insert=True)).mode("append").save(path)

    def evaluate() -> dict[str, checks.Outcome]:
        nonlocal written
        out = {o.check: o for o in checker.evaluate(spark, bucket, {"trades": written}) if o.asset == "bronze_trades"}
        written = checks.Written()
        return out

    cycle(range(1, 101))
    first = evaluate()
    assert first["record_key_unique"].passed and first["trade_id_continuity"].passed
    assert first["record_key_unique"].metadata["scope"] == "partitions written"

    cycle(range(101, 151))
    cycle(range(161, 171))                               # 151..160 missing
    gap = evaluate()
    assert gap["record_key_unique"].metadata["scope"].startswith("commits completed after ")
    assert gap["record_key_unique"].passed
    assert not gap["trade_id_continuity"].passed and gap["trade_id_continuity"].metadata["gaps"] == f"{sym} 151..160"

    cycle(range(171, 181))                               # continues from the largest id checked before: no gap
    assert evaluate()["trade_id_continuity"].passed

    cycle(range(151, 161))                               # the backfill: below the checked ids, each id once
    backfill = evaluate()
    assert backfill["record_key_unique"].passed and backfill["trade_id_continuity"].passed

    insert_copy(42)                                      # an old key again
    old = evaluate()["record_key_unique"]
    assert not old.passed and old.metadata["duplicate_keys"] == 1
    assert old.metadata["sample"][0]["trade_id"] == 42

    cycle(range(181, 191))
    insert_copy(185)                                     # a new key twice within the new commits
    new = evaluate()["record_key_unique"]
    assert not new.passed and sorted(s["trade_id"] for s in new.metadata["sample"]) == [42, 185]   # 42 not gone yet

    still = evaluate()["record_key_unique"]              # nothing new since: the duplicates found are looked up again
    assert not still.passed and sorted(s["trade_id"] for s in still.metadata["sample"]) == [42, 185]
    for trade_id in (42, 185):                           # removed: the check passes again
        spark.read.format("hudi").load(path).where(f"symbol = '{sym}' AND trade_id = {trade_id}").write.format(
            "hudi").options(**{**hudi_options(TRADES), "hoodie.datasource.write.operation": "delete"}).mode(
            "append").save(path)
    assert evaluate()["record_key_unique"].passed
