"""The driver-side Kafka read against Spark's Kafka source on a real broker: the same planned ranges give
the same records and columns, a key filter drops only other streams, and a batch over the limit is left to
Spark (the bronze loop's small cycles take the driver path, catch-ups the Spark one)."""
from __future__ import annotations

import uuid

import pytest

from crypto_pipeline.bronze.parse import key_keep
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.kafka_batch import KAFKA_COLUMNS, DriverKafkaReader, read_with_spark
from crypto_pipeline.resources.kafka import KafkaResource
from tests.integration.bronze.helpers import Feed, create_topic, stack_spark

TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xkb{TAG}.*"


@pytest.fixture(scope="module")
def feed(kafka_stack):
    env = kafka_stack.env()
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    symbols = [f"XKB{TAG}{n}".upper() for n in ("A", "B")]
    for s in symbols:
        create_topic(bootstrap, s)
    f = Feed(bootstrap)
    for s in symbols:
        f.trades(s, range(1, 301))
        f.others(s, 20)
    f.flush()
    spark = stack_spark(env)
    return bootstrap, symbols, f, spark


def _plan(bootstrap: str, start_from: dict | None = None) -> off.Plan:
    wm = KafkaResource(bootstrap_servers=bootstrap, topic_pattern=PATTERN).end_offsets()
    return off.plan_run(wm, {"trades": start_from or {}})


def _rows(df):
    return sorted((r.topic, r.partition, r.offset, r.key, bytes(r.value), r.timestamp, r.timestampType)
                  for r in df.collect())


def test_driver_read_equals_spark_read_of_the_same_plan(feed):
    bootstrap, _, _, spark = feed
    plan = _plan(bootstrap)
    reader = DriverKafkaReader(bootstrap)
    try:
        via_driver = reader.read(spark, plan)
        assert via_driver is not None and tuple(via_driver.columns) == KAFKA_COLUMNS
        via_spark = read_with_spark(spark, bootstrap, PATTERN, plan).select(*KAFKA_COLUMNS)
        assert via_driver.schema == via_spark.schema
        driver_rows = _rows(via_driver)
        assert len(driver_rows) == plan.total and driver_rows == _rows(via_spark)
    finally:
        reader.close()


def test_reads_stop_at_the_planned_end_and_resume_from_a_checkpoint(feed):
    bootstrap, symbols, f, spark = feed
    plan = _plan(bootstrap)
    f.trades(symbols[0], range(301, 351))  # arrives after the plan was made: not part of it
    f.flush()
    reader = DriverKafkaReader(bootstrap)
    try:
        assert reader.read(spark, plan).count() == plan.total
        later = _plan(bootstrap, start_from=plan.end)
        assert later.total == 50 and reader.read(spark, later).count() == 50
    finally:
        reader.close()


def test_key_filter_and_size_limit(feed):
    bootstrap, symbols, _, spark = feed
    plan = _plan(bootstrap)
    reader = DriverKafkaReader(bootstrap, max_records=plan.total - 1)
    try:
        assert reader.read(spark, plan) is None  # over the limit: the caller reads it with Spark
    finally:
        reader.close()
    reader = DriverKafkaReader(bootstrap)
    try:
        trades_only = reader.read(spark, plan, key_keep({"trades"}))
        keys = {r.key.decode() for r in trades_only.select("key").distinct().collect()}
        assert keys == {f"{s.lower()}@trade" for s in symbols}
        assert trades_only.where(trades_only.topic.contains(symbols[0].lower())).count() >= 300
    finally:
        reader.close()
