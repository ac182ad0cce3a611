"""Read one planned Kafka batch into a Spark DataFrame: small batches in the driver, large ones with
Spark's Kafka source.

Why two paths: Spark's Kafka source costs about two seconds per read however little there is to read
(it resolves the topic pattern and the offsets through an admin client and starts one task, with its
own consumer, per topic-partition), which was 40 % of a 5-second bronze cycle for a few hundred
records. A consumer the bronze loop keeps open reads those in tens of milliseconds. Both paths read
exactly the planned ``[start, end)`` range of every partition and yield the same columns, so what is
written, and the checkpoint committed with it, does not depend on the path; a catch-up after a long stop
(more than ``max_records``) still goes through Spark, which spreads it over the executors."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, IntegerType, LongType, StringType, StructField, StructType

from crypto_pipeline.lakehouse.offsets import Plan
from shared.kafka_connection import KafkaConnection

log = logging.getLogger(__name__)
KeyFilter = Callable[[bytes | None], bool]  # Kafka key -> keep the record
# a record read in the driver: key, value, topic, partition, offset, timestamp (ms), timestamp type
Record = tuple[bytes | None, bytes | None, str, int, int, int, int]
DRIVER_READ_MAX = 100_000  # records; a larger batch (a catch-up) is read by Spark

# the driver path builds this and converts the timestamp like Spark's Kafka source does
_DRIVER_SCHEMA = StructType([
    StructField("key", BinaryType()), StructField("value", BinaryType()), StructField("topic", StringType()),
    StructField("partition", IntegerType()), StructField("offset", LongType()),
    StructField("timestamp_ms", LongType()), StructField("timestampType", IntegerType())])
KAFKA_COLUMNS = ("key", "value", "topic", "partition", "offset", "timestamp", "timestampType")
# a host:port (a PLAINTEXT broker) or a KafkaConnection with the pipeline's SASL login
KafkaTarget = KafkaConnection | str
# the pipeline's Kafka user may use consumer groups with this prefix only (infra/kafka_acl.py)
GROUP_PREFIX = "crypto-pipeline-"
SPARK_GROUP = f"{GROUP_PREFIX}spark-bronze"


def read_with_spark(spark: SparkSession, bootstrap: KafkaTarget, pattern: str, plan: Plan) -> DataFrame:
    starting, ending = plan.kafka_json()
    # the login (a JAAS value) is an option of this reader, in the driver's memory; never a --conf on a command line.
    # One group id for every read (Spark's default is a new one per query): Spark's executor consumers are
    # pooled by group and partition, so the next read reuses them instead of logging a new consumer in
    # (SASL) for each of hundreds of partitions. Consumers are assigned partitions, so sharing the id is safe.
    return (spark.read.format("kafka").options(**KafkaConnection.of(bootstrap).spark_options())
            .option("kafka.group.id", SPARK_GROUP).option("subscribePattern", pattern).option("startingOffsets", starting)
            .option("endingOffsets", ending).option("failOnDataLoss", "true").load())


def empty_batch(spark: SparkSession) -> DataFrame:
    return _to_kafka_columns(spark.createDataFrame([], _DRIVER_SCHEMA))


def _to_kafka_columns(df: DataFrame) -> DataFrame:
    return df.select("key", "value", "topic", "partition", "offset",
                     F.timestamp_millis("timestamp_ms").alias("timestamp"), "timestampType")


class DriverKafkaReader:
    """One consumer, owned by one thread (a bronze loop), reading planned ranges by assignment.

    Nothing is committed to Kafka (the checkpoint lives in the Hudi commit); the group id only names the
    client. Reads stop at the planned end offset of each partition, never at whatever arrived since."""

    def __init__(self, bootstrap: KafkaTarget, max_records: int = DRIVER_READ_MAX, timeout_s: float = 30.0) -> None:
        from confluent_kafka import Consumer

        self.max_records, self.timeout_s = max_records, timeout_s
        self._consumer = Consumer(KafkaConnection.of(bootstrap).client_config(**{
            "group.id": f"{GROUP_PREFIX}bronze-reader",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "isolation.level": "read_uncommitted",  # same view as the high watermarks the plan was made from
            "fetch.wait.max.ms": 20,                # the range already exists: do not wait for more data
            "log_level": 0}))

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> "DriverKafkaReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, spark: SparkSession, plan: Plan, keep: KeyFilter | None = None) -> DataFrame | None:
        """The planned records (those whose key ``keep`` accepts) as a DataFrame, or None when the batch is
        too large for the driver (or did not arrive in ``timeout_s``); the caller then reads it with Spark."""
        rows = self.read_records(plan, keep)
        return None if rows is None else records_frame(spark, rows)

    def read_records(self, plan: Plan, keep: KeyFilter | None = None) -> list[Record] | None:
        """:meth:`read` without Spark: the records as tuples in :data:`_DRIVER_SCHEMA`'s column order."""
        from confluent_kafka import TopicPartition

        if plan.total > self.max_records:
            return None
        ranges = [(t, p, start, end) for t, p, start, end in plan.ranges() if end > start]
        todo = {(t, p): end for t, p, _, end in ranges}
        self._consumer.assign([TopicPartition(t, p, start) for t, p, start, _ in ranges])
        rows: list[Record] = []
        deadline = time.monotonic() + self.timeout_s
        try:
            while todo:
                if time.monotonic() > deadline:
                    log.warning("driver Kafka read: %s not reached in %.0fs; reading the batch with Spark instead",
                                sorted(todo), self.timeout_s)
                    return None
                for m in self._consumer.consume(num_messages=min(5_000, plan.total + 1), timeout=0.2):
                    if m.error():
                        continue  # partition EOF and transient broker errors; a real loss shows as a timeout
                    end = todo.get((m.topic(), m.partition()))
                    if end is not None and m.offset() < end and (keep is None or keep(m.key())):
                        ts_type, ts = m.timestamp()  # librdkafka types are Kafka's (Java) ids + 1
                        rows.append((m.key(), m.value(), m.topic(), m.partition(), m.offset(), ts, ts_type - 1))
                for tp in self._consumer.position([TopicPartition(t, p) for t, p in todo]):
                    if tp.offset >= todo[(tp.topic, tp.partition)]:  # past the end (control records included)
                        del todo[(tp.topic, tp.partition)]
        finally:
            self._consumer.unassign()
        return rows


def records_frame(spark: SparkSession, records: list[Record]) -> DataFrame:
    """Records the driver read (:meth:`DriverKafkaReader.read_records`) as Spark's Kafka source's columns."""
    return _to_kafka_columns(spark.createDataFrame(records, _DRIVER_SCHEMA))


def read_batch(spark: SparkSession, bootstrap: KafkaTarget, pattern: str, plan: Plan,
               driver: DriverKafkaReader | None = None, keep: KeyFilter | None = None) -> DataFrame:
    """The planned records as a DataFrame (driver path when possible). ``keep`` may drop records by key
    in the driver; the Spark path returns them all (the caller filters them the same way)."""
    if plan.total == 0:
        return empty_batch(spark)
    df = driver.read(spark, plan, keep) if driver is not None else None
    return df if df is not None else read_with_spark(spark, bootstrap, pattern, plan)


@contextmanager
def watermark_reader(bootstrap: KafkaTarget, pattern: str, timeout: float = 10.0
                     ) -> Iterator[Callable[[], dict[str, dict[int, tuple[int, int]]]]]:
    """A reader of the low/high offsets of every topic matching ``pattern`` over one consumer, for callers
    that ask every few seconds (the bronze loops): each call refreshes the metadata, so new topics appear,
    without a new connection each time. Thread-safe (the writer's two loops share it)."""
    import re
    import threading

    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(KafkaConnection.of(bootstrap).client_config(**{
        "group.id": f"{GROUP_PREFIX}inspect", "enable.auto.commit": False, "log_level": 0}))
    regex, lock = re.compile(pattern), threading.Lock()

    def read() -> dict[str, dict[int, tuple[int, int]]]:
        with lock:
            md = consumer.list_topics(timeout=timeout)
            return {name: {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout)
                           for p in sorted(topic.partitions)}
                    for name, topic in sorted(md.topics.items()) if regex.match(name)}

    try:
        yield read
    finally:
        consumer.close()
