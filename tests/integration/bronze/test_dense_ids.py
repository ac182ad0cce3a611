"""Trades and agg trades are written by insert, checked against the id ranges their commits carry: on a
real broker and Hudi table, a trade published twice (a replay, an overlapping connection) is written once,
the ranges in the commit match the table, and a table written before ranges were kept gets them rebuilt."""
from __future__ import annotations

import json
import uuid

from crypto_pipeline.bronze import dedup
from crypto_pipeline.bronze.job import run_bronze
from crypto_pipeline.lakehouse import id_ranges
from crypto_pipeline.lakehouse.hudi import CHECKPOINT_KEY, ID_RANGES_KEY, read_commit_state
from crypto_pipeline.lakehouse.tables import TRADES, bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from tests.integration.bronze.helpers import bronze_case

TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xdi{TAG}.*"


def test_a_trade_published_twice_is_written_once(kafka_stack, minio_stack):
    sym = f"XDI{TAG}A".upper()
    case = bronze_case(kafka_stack, sym)
    spark, bucket, bootstrap, feed = case.spark, case.bucket, case.bootstrap, case.feed
    kafka = KafkaResource(bootstrap_servers=bootstrap, topic_pattern=PATTERN)
    path = bronze_path(bucket, "trades")

    def cycle(ids):
        feed.trades(sym, ids)
        feed.flush()
        return run_bronze(spark, bucket, bootstrap, PATTERN, kafka.end_offsets(), tables=("trades",)).tables["trades"]

    def table_ids():
        return sorted(r.trade_id for r in spark.read.format("hudi").load(path).where(f"symbol = '{sym}'").collect())

    assert cycle(range(1, 101)).duplicates_dropped == 0
    second = cycle([*range(50, 151), 120])         # 50..100 again (new offsets), 120 twice in one batch
    assert second.duplicates_dropped == 51
    assert table_ids() == list(range(1, 151))      # each id once
    cycle(range(200, 211))                          # a gap 151..199 not (yet) backfilled
    state = read_commit_state(spark, path)
    assert id_ranges.decode(state[ID_RANGES_KEY])[sym] == [(1, 150), (200, 210)]
    assert cycle(range(151, 200)).duplicates_dropped == 0   # the backfill fills the gap
    assert table_ids() == list(range(1, 211))
    assert id_ranges.decode(read_commit_state(spark, path)[ID_RANGES_KEY])[sym] == [(1, 210)]

    # a table whose commits carry no ranges (written before they were kept): rebuilt from its rows
    legacy = {CHECKPOINT_KEY: json.dumps({"v": 1, "offsets": {}})}
    rebuilt = dedup.committed_ranges(spark, path, TRADES, legacy)
    assert rebuilt[sym] == [(1, 210)]
