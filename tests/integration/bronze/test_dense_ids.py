"""Trades and agg trades are written by insert, checked against the id ranges their commits carry: on a
real broker and Hudi table, a trade published twice (a replay, an overlapping connection) is written once,
the ranges in the commit match the table, and a table written before ranges were kept gets them rebuilt."""
from __future__ import annotations

import io
import json
import uuid
from urllib.parse import urlparse

import pyarrow.parquet as pq
import pytest

from crypto_pipeline.bronze import dedup
from crypto_pipeline.bronze.job import run_bronze
from crypto_pipeline.lakehouse import id_ranges
from crypto_pipeline.lakehouse.hudi import CHECKPOINT_KEY, ID_RANGES_KEY, read_commit_state
from crypto_pipeline.lakehouse.java_writer import JavaWriters
from crypto_pipeline.lakehouse.tables import TRADES, bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from tests.integration.bronze.helpers import bronze_case

TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xdi{TAG}.*"


@pytest.mark.parametrize("java_client", [False, True], ids=["datasource", "java-client"])
def test_a_trade_published_twice_is_written_once(kafka_stack, minio_stack, java_client):
    """Either writer: the datasource (manual runs, the first commit) or Hudi's Java client (the service's
    fast loop once the table exists)."""
    sym = f"XDI{TAG}{'J' if java_client else 'A'}".upper()
    case = bronze_case(kafka_stack, sym)
    spark, bucket, bootstrap, feed = case.spark, case.bucket, case.bootstrap, case.feed
    kafka = KafkaResource(bootstrap_servers=bootstrap, topic_pattern=PATTERN)
    path = bronze_path(bucket, "trades")
    java = JavaWriters(spark, ("trades",)) if java_client else None

    def cycle(ids):
        feed.trades(sym, ids)
        feed.flush()
        res = run_bronze(spark, bucket, bootstrap, PATTERN, kafka.end_offsets(), tables=("trades",), java_writers=java)
        return res.tables["trades"]

    def table_ids():
        return sorted(r.trade_id for r in spark.read.format("hudi").load(path).where(f"symbol = '{sym}'").collect())

    first = cycle(range(1, 101))
    assert (first.duplicates_dropped, first.writer) == (0, "datasource")   # the first commit creates the table
    second = cycle([*range(50, 151), 120])         # 50..100 again (new offsets), 120 twice in one batch
    assert second.duplicates_dropped == 51
    assert second.writer == ("java-client" if java_client else "datasource")
    # the Java writer counts rows after collapsing 120's second copy; the datasource counts what it hands Hudi
    assert (second.rows, second.min_event_ms is not None, second.partitions[0]["symbol"]) == (
        50 if java_client else 51, True, sym)
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

    # a cycle with no new trade still moves the table's checkpoint past the other streams' records
    before = json.loads(read_commit_state(spark, path)[CHECKPOINT_KEY])
    feed.klines(sym, [1])
    feed.flush()
    idle = run_bronze(spark, bucket, bootstrap, PATTERN, kafka.end_offsets(), tables=("trades",), java_writers=java)
    assert idle.tables["trades"].rows == 0
    assert json.loads(read_commit_state(spark, path)[CHECKPOINT_KEY]) != before
    assert table_ids() == list(range(1, 211))

    # the two writers' files are alike to a reader: the same physical type for every column
    if java is not None:
        java.close()
    assert _physical_types(kafka_stack.env(), bucket, sym) == 1


def _physical_types(env: dict[str, str], bucket: str, symbol: str) -> int:
    """How many distinct Parquet schemas (column name, physical type, logical type) the symbol's files have."""
    from minio import Minio

    client = Minio(urlparse(env["S3_ENDPOINT"]).netloc, access_key=env["MINIO_ROOT_USER"],
                   secret_key=env["MINIO_ROOT_PASSWORD"], secure=False)
    kinds = set()
    for obj in client.list_objects(bucket, prefix=f"bronze/trades/symbol={symbol}/", recursive=True):
        if obj.object_name.endswith(".parquet"):
            data = client.get_object(bucket, obj.object_name).read()
            schema = pq.ParquetFile(io.BytesIO(data)).schema
            kinds.add(tuple((c.name, c.physical_type, str(c.logical_type)) for c in schema))
    return len(kinds)
