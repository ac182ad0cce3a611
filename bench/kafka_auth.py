"""What Kafka authentication costs: the same client work on a PLAINTEXT broker and on a SASL/SCRAM + ACL broker
(the deploy's configuration), both started by infra/local_stack.py in this run, side by side.

    .venv/bin/python -m bench.kafka_auth                 # ~2 minutes
    .venv/bin/python -m bench.kafka_auth --records 500000

Measures, per broker:
1. login + metadata: a fresh admin client's first metadata answer (the SCRAM exchange — 8192 PBKDF2
   iterations on both sides — and the authorizer's checks are in it), median and p90 of ``--logins`` clients;
2. produce: ``--records`` trade-sized records with the streaming service's producer settings
   (streaming/producer.py: idempotent, acks=all, lz4), as the streaming user; records/s until all acked;
3. consume: the same records read back by one consumer as the pipeline user; records/s.
Prints the figures and the ratio SASL / PLAINTEXT."""
from __future__ import annotations

import argparse
import statistics
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from infra.kafka_config import PIPELINE_USER, STREAMING_USER
from infra.local_stack import LocalStack
from shared.kafka_connection import KafkaConnection
from shared.symbols import TopicDefaults
from streaming.config import KafkaSettings
from streaming.producer import producer_config
from streaming.topics import ensure_topics

VALUE = b'{"schema_version":1,"source":"simulator","payload":{"e":"trade","t":5071234567,"p":"117850.01000000"}}' * 3


def logins(conn: KafkaConnection, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        assert AdminClient(conn.client_config(log_level=0)).list_topics(timeout=10).brokers
        out.append((time.perf_counter() - t0) * 1000)
    return out


def produce(conn: KafkaConnection, topic: str, records: int) -> float:
    s = KafkaSettings(bootstrap_servers=conn.bootstrap, sasl_username=conn.username, sasl_password=conn.password,
                      security_protocol=conn.protocol)
    conf = {k: v for k, v in producer_config(s).items() if k != "logger"}
    p = Producer(conf)
    p.list_topics(timeout=10)  # connected and logged in before the clock starts
    t0 = time.perf_counter()
    for i in range(records):
        while True:
            try:
                p.produce(topic, key=b"benchusdt@trade", value=VALUE)
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    return records / (time.perf_counter() - t0)


def consume(conn: KafkaConnection, topic: str, records: int) -> float:
    c = Consumer(conn.client_config(**{"group.id": "crypto-pipeline-bench", "enable.auto.commit": False,
                                       "log_level": 0}))
    c.assign([TopicPartition(topic, 0, 0)])
    got, t0 = 0, time.perf_counter()
    deadline = t0 + 300
    while got < records and time.perf_counter() < deadline:
        got += sum(1 for m in c.consume(10_000, timeout=1) if m.error() is None)
    c.close()
    assert got >= records, f"read {got} of {records}"
    return records / (time.perf_counter() - t0)


def measure(sasl: bool, records: int, n_logins: int) -> dict[str, float]:
    stack = LocalStack.create(kafka_sasl=sasl)
    try:
        stack.start("kafka")
        writer, reader = stack.kafka(STREAMING_USER), stack.kafka(PIPELINE_USER)
        topic = next(t for t, _ in ensure_topics(writer, ["BENCHUSDT"], TopicDefaults(partitions=1)).items()
                     if t != "crypto_dlq")
        ms = logins(reader, n_logins)
        return {"login_median_ms": statistics.median(ms), "login_p90_ms": statistics.quantiles(ms, n=10)[-1],
                "produce_per_s": produce(writer, topic, records), "consume_per_s": consume(reader, topic, records)}
    finally:
        stack.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--logins", type=int, default=30)
    a = ap.parse_args()
    plain = measure(False, a.records, a.logins)
    sasl = measure(True, a.records, a.logins)
    print(f"\n{a.records} records of {len(VALUE)} B, {a.logins} logins\n")
    print(f"{'measure':<22}{'PLAINTEXT':>14}{'SASL + ACLs':>14}{'ratio':>8}")
    for key in plain:
        print(f"{key:<22}{plain[key]:>14,.1f}{sasl[key]:>14,.1f}{sasl[key] / plain[key]:>8.2f}")


if __name__ == "__main__":
    main()
