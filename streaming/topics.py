"""Topic admin at start: create ``crypto_raw_<symbol>`` (configured partitions, retention, compression)
and ``crypto_dlq`` when missing, check the existing ones.

Why check instead of alter: changing the partition count of a live topic remaps keys to partitions and
breaks per-stream order for consumers mid-stream; a mismatch is logged for an operator to decide."""
from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from shared.envelope import DLQ_TOPIC, topic_for
from shared.kafka_connection import KafkaConnection
from shared.symbols import TopicDefaults

log = logging.getLogger("streaming.topics")


def ensure_topics(kafka: KafkaConnection | str, symbols: list[str], t: TopicDefaults, timeout: float = 15.0) -> dict[str, str]:
    """Returns {topic: "created" | "exists" | "exists (N partitions, wanted M)"}; raises KafkaException
    when the broker cannot be reached within ``timeout``."""
    admin = AdminClient(KafkaConnection.of(kafka).client_config())
    wanted = {topic_for(s): t.partitions for s in symbols}
    wanted[DLQ_TOPIC] = 1
    md = admin.list_topics(timeout=timeout)
    result: dict[str, str] = {}
    new = []
    for name, parts in wanted.items():
        tm = md.topics.get(name)
        if tm is None or tm.error is not None:
            cfg = {"retention.ms": str(t.retention_ms), "compression.type": t.compression}
            new.append(NewTopic(name, num_partitions=parts, replication_factor=t.replication_factor, config=cfg))
        elif len(tm.partitions) != parts:
            result[name] = f"exists ({len(tm.partitions)} partitions, wanted {parts})"
            log.warning("topic partition count differs from config; left as is",
                        extra={"topic": name, "partitions": len(tm.partitions), "wanted": parts})
        else:
            result[name] = "exists"
    if new:
        for name, fut in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
            try:
                fut.result()
                result[name] = "created"
            except KafkaException as e:
                if e.args and e.args[0].code() == 36:  # TOPIC_ALREADY_EXISTS (a concurrent creator)
                    result[name] = "exists"
                else:
                    raise
    log.info("topics ready", extra={"topics": result})
    return result
