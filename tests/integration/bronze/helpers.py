"""Test data for bronze: simulator-shaped payloads wrapped in the real envelope, produced to real Kafka."""
from __future__ import annotations

import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from shared.envelope import Source, build_envelope, topic_for

T0 = 1_752_572_400_000  # 2025-07-15 09:40 UTC, a minute boundary


def new_symbol(tag: str = "") -> str:
    return f"X{tag}{uuid.uuid4().hex[:6]}USDT".upper()


def create_topic(bootstrap: str, symbol: str, partitions: int = 3, config: dict | None = None) -> str:
    topic = topic_for(symbol)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config=config or {})])[topic].result(30)
    return topic


def trade(symbol: str, tid: int, price: str = "100.12000000", qty: str = "0.50000000", t: int | None = None) -> dict:
    t = T0 + tid * 10 if t is None else t
    return {"e": "trade", "E": t + 1, "s": symbol, "t": tid, "p": price, "q": qty, "T": t, "m": tid % 2 == 0, "M": True}


def kline(symbol: str, minute: int, closed: bool = True, e_offset: int = 60_001) -> dict:
    t = T0 + minute * 60_000
    return {"e": "kline", "E": t + e_offset, "s": symbol, "k": {
        "t": t, "T": t + 59_999, "s": symbol, "i": "1m", "f": minute * 10, "L": minute * 10 + 9, "o": "100.00000000",
        "c": "101.00000000", "h": "102.00000000", "l": "99.00000000", "v": "5.00000000", "n": 10, "x": closed,
        "q": "505.00000000", "V": "2.00000000", "Q": "202.00000000", "B": "0"}}


def other_streams(symbol: str, i: int) -> list[tuple[str, dict]]:
    s = symbol.lower()
    t = T0 + i * 1000
    return [
        (f"{s}@aggTrade", {"e": "aggTrade", "E": t, "s": symbol, "a": i, "p": "100.1", "q": "1.5", "f": 2 * i, "l": 2 * i + 1, "T": t, "m": True, "M": True}),
        (f"{s}@ticker", {"e": "24hrTicker", "E": t, "s": symbol, "p": "1", "P": "1.0", "w": "100", "x": "99", "c": "100", "Q": "1",
                         "b": "99.9", "B": "1", "a": "100.1", "A": "2", "o": "99", "h": "101", "l": "98", "v": "10", "q": "1000",
                         "O": t - 86_400_000, "C": t, "F": 1, "L": 10, "n": 10}),
        (f"{s}@miniTicker", {"e": "24hrMiniTicker", "E": t, "s": symbol, "c": "100", "o": "99", "h": "101", "l": "98", "v": "10", "q": "1000"}),
        (f"{s}@bookTicker", {"u": 1000 + i, "s": symbol, "b": "99.9", "B": "1", "a": "100.1", "A": "2"}),
        (f"{s}@depth5", {"lastUpdateId": 5000 + i, "bids": [["99.9", "1"]], "asks": [["100.1", "2"]]}),
        (f"{s}@depth@100ms", {"e": "depthUpdate", "E": t, "s": symbol, "U": 7000 + 2 * i, "u": 7001 + 2 * i, "b": [["99.9", "0"]], "a": []}),
    ]


class Feed:
    """Produces envelopes keyed by stream name (so each stream stays in one partition, as streaming/ does)."""

    def __init__(self, bootstrap: str, config: dict | None = None):
        self.p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True, **(config or {})})

    def send(self, symbol: str, stream: str, payload: dict | None = None, raw: bytes | None = None) -> None:
        value = raw if raw is not None else build_envelope(stream, symbol, Source.SIMULATOR, payload, int(time.time() * 1000))
        while True:
            try:
                self.p.produce(topic_for(symbol), key=stream.encode(), value=value)
                break
            except BufferError:  # local queue full (large feeds): let deliveries drain, then retry
                self.p.poll(0.5)
        self.p.poll(0)

    def trades(self, symbol: str, ids) -> None:
        for i in ids:
            self.send(symbol, f"{symbol.lower()}@trade", trade(symbol, i))

    def klines(self, symbol: str, minutes) -> None:
        for m in minutes:
            self.send(symbol, f"{symbol.lower()}@kline_1m", kline(symbol, m, closed=False, e_offset=30_000))
            self.send(symbol, f"{symbol.lower()}@kline_1m", kline(symbol, m, closed=True))

    def others(self, symbol: str, n: int, start: int = 0) -> None:
        for i in range(start, start + n):
            for stream, payload in other_streams(symbol, i):
                self.send(symbol, stream, payload)

    def flush(self) -> None:
        assert self.p.flush(30) == 0


def make_bucket(s3_endpoint: str, user: str, password: str, name: str | None = None) -> str:
    from urllib.parse import urlparse

    from minio import Minio

    name = name or f"bronze-it-{uuid.uuid4().hex[:8]}"
    Minio(urlparse(s3_endpoint).netloc, access_key=user, secret_key=password, secure=False).make_bucket(name)
    return name


def stack_spark(env: dict[str, str]):
    """A small Spark session (Hudi, S3A) on the test stack's MinIO, as the bronze integration tests use it."""
    from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf

    return local_session(spark_conf(default_jars_dir(), env["S3_ENDPOINT"], env["MINIO_ROOT_USER"],
                                    env["MINIO_ROOT_PASSWORD"], "local[2]", "1g", 2))


def bronze_case(kafka_stack, symbol: str, partitions: int = 3):
    """A fresh bucket, a Spark session and the symbol's raw topic on the test stack (``.topic``, ``.bootstrap``,
    ``.bucket``, ``.spark``, ``.feed``)."""
    from types import SimpleNamespace

    env = kafka_stack.env()
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    return SimpleNamespace(bootstrap=bootstrap, topic=create_topic(bootstrap, symbol, partitions), feed=Feed(bootstrap),
                           bucket=make_bucket(env["S3_ENDPOINT"], env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"]),
                           spark=stack_spark(env))
