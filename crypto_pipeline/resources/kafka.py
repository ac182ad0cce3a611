"""Kafka as a Dagster resource: the admin/consumer views the assets and checks need."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from dagster import ConfigurableResource
from pydantic import Field


class KafkaResource(ConfigurableResource):
    bootstrap_servers: str = Field(description="host:port list of the Kafka brokers")
    topic_pattern: str = Field(default=r"^crypto_raw_.*", description="regex of the raw per-symbol topics")

    def end_offsets(self, timeout: float = 10.0) -> dict[str, dict[int, tuple[int, int]]]:
        """{topic: {partition: (low, high)}} for every topic matching topic_pattern."""
        with self.watermark_reader(timeout) as read:
            return read()

    @contextmanager
    def watermark_reader(self, timeout: float = 10.0) -> Iterator[Callable[[], dict[str, dict[int, tuple[int, int]]]]]:
        """A reader of :meth:`end_offsets` over one consumer, for callers that ask every few seconds (the bronze
        stream): each call refreshes the metadata, so new topics appear, without a new connection each time."""
        import re
        import threading

        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap_servers, "group.id": "crypto-pipeline-inspect",
                             "enable.auto.commit": False, "log_level": 0})
        pattern, lock = re.compile(self.topic_pattern), threading.Lock()

        def read() -> dict[str, dict[int, tuple[int, int]]]:
            with lock:  # the stream's two loops share the reader
                md = consumer.list_topics(timeout=timeout)
                return {name: {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout)
                               for p in sorted(topic.partitions)}
                        for name, topic in sorted(md.topics.items()) if pattern.match(name)}

        try:
            yield read
        finally:
            consumer.close()
