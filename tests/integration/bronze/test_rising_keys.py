"""Tickers, depth, book ticker and the quarantine are inserted while a batch lies above the key marks their
commits carry, and upserted when it reaches back: on a real broker and Hudi table, an update published
twice is written once, the marks in the commit match the table, and a table written before marks were
kept gets them rebuilt."""
from __future__ import annotations

import json
import uuid

from crypto_pipeline.bronze import dedup
from crypto_pipeline.bronze.job import run_bronze
from crypto_pipeline.lakehouse import key_marks
from crypto_pipeline.lakehouse.hudi import CHECKPOINT_KEY, KEY_MARKS_KEY, completed_commits, read_commit_state
from crypto_pipeline.lakehouse.tables import BOOK_TICKER, bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from tests.integration.bronze.helpers import bronze_case

TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xrk{TAG}.*"


def last_operation(spark, path: str) -> str:
    """The write operation of the table's newest completed commit (INSERT or UPSERT)."""
    timeline = completed_commits(spark, path)
    return timeline.readCommitMetadata(timeline.lastInstant().get()).getOperationType().name()


def test_an_update_published_twice_is_written_once_and_in_order_batches_are_inserted(kafka_stack, minio_stack):
    sym = f"XRK{TAG}A".upper()
    case = bronze_case(kafka_stack, sym, partitions=1)
    spark, bucket, bootstrap, topic, feed = case.spark, case.bucket, case.bootstrap, case.topic, case.feed
    kafka = KafkaResource(bootstrap_servers=bootstrap, topic_pattern=PATTERN)
    path, qpath = bronze_path(bucket, "book_ticker"), bronze_path(bucket, "quarantine")

    def cycle(ids, bad: int = 0):
        for u in ids:
            feed.send(sym, f"{sym.lower()}@bookTicker", {"u": u, "s": sym, "b": "99.9", "B": "1", "a": "100.1", "A": "2"})
        for _ in range(bad):
            feed.send(sym, f"{sym.lower()}@bookTicker", raw=b"{not json")
        feed.flush()
        run_bronze(spark, bucket, bootstrap, PATTERN, kafka.end_offsets(), tables=("book_ticker", "quarantine"))

    def table_ids():
        return sorted(r.update_id for r in spark.read.format("hudi").load(path).where(f"symbol = '{sym}'").collect())

    def marks(p):
        return key_marks.decode(read_commit_state(spark, p)[KEY_MARKS_KEY])

    cycle(range(1, 51), bad=2)
    assert last_operation(spark, path) == "INSERT" and marks(path) == {(sym,): 50}
    assert last_operation(spark, qpath) == "INSERT"
    q_offsets = [r.kafka_offset for r in spark.read.format("hudi").load(qpath).where(f"kafka_topic = '{topic}'").collect()]
    assert len(q_offsets) == 2 and marks(qpath)[(topic, "0")] == max(q_offsets)

    cycle([*range(40, 61), 55])                 # 40..50 again (new offsets), 55 twice in one batch: upsert
    assert last_operation(spark, path) == "UPSERT"
    assert table_ids() == list(range(1, 61))    # each update once
    assert marks(path) == {(sym,): 60}

    cycle(range(61, 71), bad=1)                 # in order again: insert; the quarantine's offsets rise too
    assert last_operation(spark, path) == "INSERT" and last_operation(spark, qpath) == "INSERT"
    assert table_ids() == list(range(1, 71))
    assert spark.read.format("hudi").load(qpath).where(f"kafka_topic = '{topic}'").count() == 3

    # a table whose commits carry no marks (written before they were kept): rebuilt from its rows
    legacy = {CHECKPOINT_KEY: json.dumps({"v": 1, "offsets": {}})}
    assert dedup.committed_marks(spark, path, BOOK_TICKER, legacy)[(sym,)] == 70
