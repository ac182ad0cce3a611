"""A real KRaft broker from the installer's jars: produce with the idempotent producer, consume back."""
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def test_produce_consume_round_trip(kafka_stack):
    bootstrap = kafka_stack.settings.kafka_bootstrap
    topic = f"it_roundtrip_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    sent = [(f"k{i % 3}".encode(), f"v{i}".encode()) for i in range(500)]
    delivered = []
    for k, v in sent:
        producer.produce(topic, key=k, value=v, on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(30) == 0
    assert delivered.count(None) == len(sent)

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = []
    try:
        deadline = time.monotonic() + 60
        while len(got) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    assert sorted(got) == sorted(sent)
    # per-key order is preserved (same key -> same partition)
    for key in {k for k, _ in sent}:
        assert [v for k, v in got if k == key] == [v for k, v in sent if k == key]
