"""Tickers, depth, book ticker and the quarantine are inserted while a batch lies above the key marks their
commits carry, and upserted when it reaches back: on a real broker and Hudi table, an update published
twice is written once, the marks in the commit match the table, and a table written before marks were
kept gets them rebuilt. Either writer: the datasource, or Hudi's Java client (the service's inserts of the
flat tables; a batch reaching back still goes to the datasource's upsert)."""
from __future__ import annotations

import json
import uuid

import pytest
from pyspark.sql import functions as F

from crypto_pipeline.bronze import dedup
from crypto_pipeline.bronze.job import run_bronze
from crypto_pipeline.lakehouse import key_marks
from crypto_pipeline.lakehouse.hudi import CHECKPOINT_KEY, KEY_MARKS_KEY, completed_commits, read_commit_state
from crypto_pipeline.lakehouse.java_writer import JavaWriters
from crypto_pipeline.lakehouse.tables import BOOK_TICKER, bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from tests.integration.bronze.helpers import bronze_case

TAG = uuid.uuid4().hex[:5]


def _case(kafka_stack, sym: str):
    """The symbol's test case, and a pattern and Kafka resource of its topic only (the module's tests share
    a topic prefix)."""
    case = bronze_case(kafka_stack, sym, partitions=1)
    pattern = f"^{case.topic}$"
    return case, pattern, KafkaResource(bootstrap_servers=case.bootstrap, topic_pattern=pattern)


def last_operation(spark, path: str) -> str:
    """The write operation of the table's newest completed commit (INSERT or UPSERT)."""
    timeline = completed_commits(spark, path)
    return timeline.readCommitMetadata(timeline.lastInstant().get()).getOperationType().name()


@pytest.mark.parametrize("java_client", [False, True], ids=["datasource", "java-client"])
def test_an_update_published_twice_is_written_once_and_in_order_batches_are_inserted(kafka_stack, minio_stack,
                                                                                       java_client):
    sym = f"XRK{TAG}{'J' if java_client else 'A'}".upper()
    case, pattern, kafka = _case(kafka_stack, sym)
    spark, bucket, bootstrap, topic, feed = case.spark, case.bucket, case.bootstrap, case.topic, case.feed
    path, qpath = bronze_path(bucket, "book_ticker"), bronze_path(bucket, "quarantine")
    java = JavaWriters(spark, ("book_ticker", "quarantine")) if java_client else None
    inserter = "java-client" if java_client else "datasource"

    def cycle(ids, bad: int = 0) -> str:
        """The writer of the book ticker's commit."""
        for u in ids:
            feed.send(sym, f"{sym.lower()}@bookTicker", {"u": u, "s": sym, "b": "99.9", "B": "1", "a": "100.1", "A": "2"})
        for _ in range(bad):
            feed.send(sym, f"{sym.lower()}@bookTicker", raw=b"{not json")
        feed.flush()
        res = run_bronze(spark, bucket, bootstrap, pattern, kafka.end_offsets(), tables=("book_ticker", "quarantine"),
                         java_writers=java)
        assert res.tables["quarantine"].writer == "datasource"   # its rows come from every stream's Spark parse
        return res.tables["book_ticker"].writer

    def table_ids():
        return sorted(r.update_id for r in spark.read.format("hudi").load(path).where(f"symbol = '{sym}'").collect())

    def marks(p):
        return key_marks.decode(read_commit_state(spark, p)[KEY_MARKS_KEY])

    assert cycle(range(1, 51), bad=2) == "datasource"   # the first commit creates the table
    assert last_operation(spark, path) == "INSERT" and marks(path) == {(sym,): 50}
    assert last_operation(spark, qpath) == "INSERT"
    q_offsets = [r.kafka_offset for r in spark.read.format("hudi").load(qpath).where(f"kafka_topic = '{topic}'").collect()]
    assert len(q_offsets) == 2 and marks(qpath)[(topic, "0")] == max(q_offsets)

    assert cycle(range(51, 56)) == inserter     # above the marks: an insert
    assert last_operation(spark, path) == "INSERT" and marks(path) == {(sym,): 55}
    # 40..55 again (new offsets), 55 twice in one batch: upsert, by the datasource either way
    assert cycle([*range(40, 61), 55]) == "datasource"
    assert last_operation(spark, path) == "UPSERT"
    assert table_ids() == list(range(1, 61))    # each update once
    assert marks(path) == {(sym,): 60}

    assert cycle(range(61, 71), bad=1) == inserter   # in order again: insert; the quarantine's offsets rise too
    assert last_operation(spark, path) == "INSERT" and last_operation(spark, qpath) == "INSERT"
    assert table_ids() == list(range(1, 71))
    assert spark.read.format("hudi").load(qpath).where(f"kafka_topic = '{topic}'").count() == 3

    # a table whose commits carry no marks (written before they were kept): rebuilt from its rows
    legacy = {CHECKPOINT_KEY: json.dumps({"v": 1, "offsets": {}})}
    assert dedup.committed_marks(spark, path, BOOK_TICKER, legacy)[(sym,)] == 70
    if java is not None:
        java.close()


def test_the_java_client_keeps_a_mark_per_key_group(kafka_stack, minio_stack):
    """Tickers' marks are per (symbol, kind): a batch is inserted only when every kind in it lies above its
    own kind's mark, though another kind's mark is higher."""
    sym = f"XRK{TAG}T".upper()
    case, pattern, kafka = _case(kafka_stack, sym)
    spark, bucket, bootstrap, feed = case.spark, case.bucket, case.bootstrap, case.feed
    path = bronze_path(bucket, "tickers")
    java = JavaWriters(spark, ("tickers",))

    def cycle(full: list[int], mini: list[int]) -> str:
        for e in full:
            feed.send(sym, f"{sym.lower()}@ticker", {"e": "24hrTicker", "E": e, "s": sym, "c": "100", "o": "99", "h": "101",
                                                     "l": "98", "v": "10", "q": "1000"})
        for e in mini:
            feed.send(sym, f"{sym.lower()}@miniTicker", {"e": "24hrMiniTicker", "E": e, "s": sym, "c": "100", "o": "99",
                                                         "h": "101", "l": "98", "v": "10", "q": "1000"})
        feed.flush()
        res = run_bronze(spark, bucket, bootstrap, pattern, kafka.end_offsets(), tables=("tickers",), java_writers=java)
        return res.tables["tickers"].writer

    def rows() -> list[tuple[str, int]]:
        return sorted((r.kind, r.event_time_ms) for r in
                      spark.read.format("hudi").load(path).where(f"symbol = '{sym}'").collect())

    def marks():
        return key_marks.decode(read_commit_state(spark, path)[KEY_MARKS_KEY])

    assert cycle([1000, 2000], [10, 20]) == "datasource"          # creates the table
    assert cycle([3000], [30, 40]) == "java-client"                # each kind above its own mark
    assert marks() == {(sym, "24h"): 3000, (sym, "mini"): 40}
    assert last_operation(spark, path) == "INSERT"
    assert cycle([4000], [40, 50]) == "datasource"                 # mini 40 again: the batch is upserted
    assert last_operation(spark, path) == "UPSERT" and marks() == {(sym, "24h"): 4000, (sym, "mini"): 50}
    assert cycle([5000], [60]) == "java-client"
    assert rows() == [("24h", e) for e in (1000, 2000, 3000, 4000, 5000)] + [("mini", e) for e in (10, 20, 30, 40, 50, 60)]
    java.close()


def test_the_java_client_clusters_its_small_files_inline(kafka_stack, minio_stack):
    """A Java-written table not clustered apart (the slow loop's flat tables) is clustered by the client
    itself every so many commits, with the Java engine's strategies (cadence shortened from 60 to 3)."""
    sym = f"XRK{TAG}C".upper()
    case, pattern, kafka = _case(kafka_stack, sym)
    spark, bucket, bootstrap, feed = case.spark, case.bucket, case.bootstrap, case.feed
    path = bronze_path(bucket, "book_ticker")
    java = JavaWriters(spark, ("book_ticker",), options={"hoodie.clustering.inline.max.commits": "3"})
    files, writers = [], []
    for c in range(8):
        for u in range(c * 10 + 1, c * 10 + 11):
            feed.send(sym, f"{sym.lower()}@bookTicker", {"u": u, "s": sym, "b": "99.9", "B": "1", "a": "100.1", "A": "2"})
        feed.flush()
        res = run_bronze(spark, bucket, bootstrap, pattern, kafka.end_offsets(), tables=("book_ticker",), java_writers=java)
        writers.append(res.tables["book_ticker"].writer)
        mine = spark.read.format("hudi").load(path).where(f"symbol = '{sym}'")
        files.append(mine.select(F.input_file_name()).distinct().count())
    java.close()
    assert writers == ["datasource"] + ["java-client"] * 7
    timeline = completed_commits(spark, path)
    actions = {i.getAction() for i in timeline.getInstants()}
    assert actions & {"replacecommit", "clustering"}, actions      # a clustering completed
    assert max(files) <= 4 and files[-1] < 8, files                # and the files did not pile up
    ids = [r.update_id for r in spark.read.format("hudi").load(path).where(f"symbol = '{sym}'").collect()]
    assert sorted(ids) == list(range(1, 81))                       # every update once
