"""Kafka as a Dagster resource: the admin/consumer views the assets and checks need."""
from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field


class KafkaResource(ConfigurableResource):
    bootstrap_servers: str = Field(description="host:port list of the Kafka brokers")
    topic_pattern: str = Field(default=r"^crypto_raw_.*", description="regex of the raw per-symbol topics")

    def end_offsets(self, timeout: float = 10.0) -> dict[str, dict[int, tuple[int, int]]]:
        """{topic: {partition: (low, high)}} for every topic matching topic_pattern."""
        import re

        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap_servers, "group.id": "crypto-pipeline-inspect",
                             "enable.auto.commit": False, "log_level": 0})
        try:
            md = consumer.list_topics(timeout=timeout)
            pattern = re.compile(self.topic_pattern)
            out: dict[str, dict[int, tuple[int, int]]] = {}
            for name, topic in sorted(md.topics.items()):
                if not pattern.match(name):
                    continue
                out[name] = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout)
                             for p in sorted(topic.partitions)}
            return out
        finally:
            consumer.close()
