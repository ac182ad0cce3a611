"""Kafka as a Dagster resource: the admin/consumer views the assets and checks need."""
from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from shared.kafka_connection import DEFAULT_MECHANISM, KafkaConnection


class KafkaResource(ConfigurableResource):
    bootstrap_servers: str = Field(description="host:port list of the Kafka brokers")
    topic_pattern: str = Field(default=r"^crypto_raw_.*", description="regex of the raw per-symbol topics")
    # the pipeline's SASL login (docs/security.md); empty = a PLAINTEXT broker. The password comes from
    # dg.EnvVar("KAFKA_SASL_PASSWORD"), resolved in the run, never stored in the definitions.
    security_protocol: str = Field(default="", description="PLAINTEXT, SASL_PLAINTEXT, SASL_SSL ('' = by sasl_username)")
    sasl_mechanism: str = Field(default=DEFAULT_MECHANISM, description="SCRAM-SHA-512 or SCRAM-SHA-256")
    sasl_username: str = Field(default="", description="SASL user (the pipeline's: read-only on the raw topics)")
    sasl_password: str = Field(default="", description="SASL password; set with dg.EnvVar")

    def connection(self) -> KafkaConnection:
        return KafkaConnection(self.bootstrap_servers, username=self.sasl_username, password=self.sasl_password,
                               mechanism=self.sasl_mechanism, protocol=self.security_protocol)

    def end_offsets(self, timeout: float = 10.0) -> dict[str, dict[int, tuple[int, int]]]:
        """{topic: {partition: (low, high)}} for every topic matching topic_pattern."""
        with self.watermark_reader(timeout) as read:
            return read()

    def watermark_reader(self, timeout: float = 10.0):
        """:func:`crypto_pipeline.lakehouse.kafka_batch.watermark_reader` for this resource's topics."""
        from crypto_pipeline.lakehouse.kafka_batch import watermark_reader

        return watermark_reader(self.connection(), self.topic_pattern, timeout)
