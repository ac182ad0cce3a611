"""Kafka as a Dagster resource: the admin/consumer views the assets and checks need."""
from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field


class KafkaResource(ConfigurableResource):
    bootstrap_servers: str = Field(description="host:port list of the Kafka brokers")
    topic_pattern: str = Field(default=r"^crypto_raw_.*", description="regex of the raw per-symbol topics")

    def end_offsets(self, timeout: float = 10.0) -> dict[str, dict[int, tuple[int, int]]]:
        """{topic: {partition: (low, high)}} for every topic matching topic_pattern."""
        with self.watermark_reader(timeout) as read:
            return read()

    def watermark_reader(self, timeout: float = 10.0):
        """:func:`crypto_pipeline.lakehouse.kafka_batch.watermark_reader` for this resource's topics."""
        from crypto_pipeline.lakehouse.kafka_batch import watermark_reader

        return watermark_reader(self.bootstrap_servers, self.topic_pattern, timeout)
