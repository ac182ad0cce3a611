"""Resume positions after a restart: read the tail of each ``crypto_raw_<symbol>`` partition and take the
last trade id / aggTrade id / kline per stream, so the first live frame after a restart reveals the
downtime as a gap (filled from REST) and nothing is published twice.

Why scan a bounded tail: the key is the stream name, so several streams share a partition; the last
``resume_scan`` records per partition contain every active stream's last record unless a stream was
silent for that long (then the service resumes it from the positions file, ``streaming/positions.py``)."""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from shared.kafka_connection import KafkaConnection

log = logging.getLogger("streaming.resume")


def read_positions(kafka: KafkaConnection | str, topics: list[str], streams: set[str], scan: int,
                   timeout: float = 10.0) -> dict[str, Any]:
    """{stream: last id (int) | (open time, event time, closed)} for trade/aggTrade/kline streams."""
    if scan <= 0 or not topics:
        return {}
    c = Consumer(KafkaConnection.of(kafka).client_config(**{
        "group.id": f"streaming-resume-{uuid.uuid4().hex[:8]}",  # the streaming user's groups: streaming-*
        "enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "earliest"}))
    out: dict[str, Any] = {}
    try:
        md = c.list_topics(timeout=timeout)
        assignments = []
        for t in topics:
            tm = md.topics.get(t)
            if tm is None or tm.error is not None:
                continue
            for p in tm.partitions:
                lo, hi = c.get_watermark_offsets(TopicPartition(t, p), timeout=timeout)
                if hi > lo:
                    assignments.append(TopicPartition(t, p, max(lo, hi - scan)))
        if not assignments:
            return {}
        c.assign(assignments)
        remaining = len(assignments)
        while remaining:
            batch = c.consume(1000, timeout=timeout)
            if not batch:
                break
            for m in batch:
                if m.error() is not None:
                    if m.error().code() == -191:  # _PARTITION_EOF
                        remaining -= 1
                    continue
                key = m.key().decode() if m.key() else ""
                if key not in streams:
                    continue
                try:
                    env = orjson.loads(m.value())
                    d = env["payload"]
                except Exception:  # noqa: BLE001 - foreign records are ignored
                    continue
                kind = key.split("@", 1)[1]
                if kind == "trade":
                    out[key] = max(out.get(key, -1), d["t"])
                elif kind == "aggTrade":
                    out[key] = max(out.get(key, -1), d["a"])
                elif kind.startswith("kline_"):
                    k = (d["k"]["t"], d["E"], bool(d["k"]["x"]))
                    if key not in out or k[:2] > out[key][:2]:
                        out[key] = k
    finally:
        c.close()
    log.info("resumed stream positions from Kafka", extra={"streams": len(out)})
    return out


def ids_in_kafka(kafka: KafkaConnection | str, topic: str, stream: str, since_ms: int, timeout: float = 10.0) -> set[int]:
    """Ids of ``stream`` (trade ``t``, aggTrade ``a``, closed kline open time) in ``topic`` from records
    written at/after ``since_ms`` — what a failed delivery may still have written (librdkafka reports a
    request that timed out in flight as failed although the broker may have stored it)."""
    kind = stream.split("@", 1)[1]
    c = Consumer(KafkaConnection.of(kafka).client_config(**{
        "group.id": f"streaming-redeliver-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "earliest"}))
    out: set[int] = set()
    key = stream.encode()
    try:
        md = c.list_topics(topic, timeout=timeout)
        tm = md.topics.get(topic)
        if tm is None or tm.error is not None:
            raise RuntimeError(f"topic {topic} not readable: {tm.error if tm else 'missing'}")
        starts = c.offsets_for_times([TopicPartition(topic, p, max(0, since_ms)) for p in tm.partitions],
                                     timeout=timeout)
        assign, ends = [], {}
        for tp in starts:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout)
            start = tp.offset if tp.offset >= 0 else hi  # -1: nothing written since then
            if start < hi:
                assign.append(TopicPartition(topic, tp.partition, max(lo, start)))
                ends[tp.partition] = hi
        if not assign:
            return out
        c.assign(assign)
        # read up to the end offsets taken now: the live stream keeps appending, so "end of partition"
        # may never be reached; records written after this point are newer than any failed one
        pos = {tp.partition: tp.offset for tp in assign}
        deadline = time.monotonic() + 120
        while any(pos[p] < ends[p] for p in ends):
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic}: read did not reach the end offsets in 120 s")
            batch = c.consume(1000, timeout=1)
            if not batch:  # offsets without records (e.g. transaction markers): trust the consumer position
                for tp in c.position([TopicPartition(topic, p) for p in ends]):
                    pos[tp.partition] = max(pos[tp.partition], tp.offset)
            for m in batch:
                if m.error() is not None:
                    continue
                pos[m.partition()] = m.offset() + 1
                if m.key() != key:
                    continue
                try:
                    d = orjson.loads(m.value())["payload"]
                    if kind == "trade":
                        out.add(d["t"])
                    elif kind == "aggTrade":
                        out.add(d["a"])
                    elif d["k"]["x"]:
                        out.add(d["k"]["t"])
                except Exception:  # noqa: BLE001 - foreign records are ignored
                    continue
    finally:
        c.close()
    return out
