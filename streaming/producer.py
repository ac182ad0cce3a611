"""Kafka producer: confluent-kafka (librdkafka), idempotent, acks=all, compressed, batched.

Why this shape:
* librdkafka's own queue is the bounded memory buffer (``queue.buffering.max.messages/kbytes``).
  librdkafka retries a message for ``message_timeout_s`` while the broker is down; when the queue
  is full ``produce`` raises BufferError, the record goes to a small ordered overflow list and
  ``blocked`` turns True: readers await :meth:`wait_writable` (backpressure reaches the socket; what
  the exchange sends meanwhile is recovered by the gap backfill after the reconnect).
* Idempotence keeps per-partition order and no duplicates across the producer's internal retries.
* Delivery reports are counted in one global bound method that does nothing but count on success (no
  per-message closure, no latency lookup); only every ``latency_sample``-th record carries its own
  callback, which measures produce → ack (``msg.latency()``) and exchange event time → ack. Failures
  always reach a callback, so ``delivered``/``failed`` stay exact.
* A failed delivery (broker down longer than ``message_timeout_s``, or a permanent error) is never silent:
  ``on_undelivered`` hands the record back to the pipeline, which puts its id in the stream's ledger
  (``streaming/ledger.py``) for :mod:`streaming.redelivery` to refill once Kafka delivers again.
* Latency at moderate rates: Nagle is off (small produce requests are not held back waiting for the
  broker's delayed ACK), and delivery reports are served every ``POLL_INTERVAL_S`` even between frames.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable

from confluent_kafka import KafkaError, Producer

from streaming.config import KafkaSettings
from streaming.metrics import FastHistogram

log = logging.getLogger("streaming.producer")
POLL_INTERVAL_S = 0.005  # poll_loop cadence: bounds how late a delivery report (and its latency) is seen


def producer_config(s: KafkaSettings) -> dict[str, Any]:
    return s.connection().client_config(**{
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": s.compression,
        "linger.ms": s.linger_ms,
        "batch.size": s.batch_size,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": s.buffer_max_messages,
        "queue.buffering.max.kbytes": s.buffer_max_kbytes,
        "message.timeout.ms": int(s.message_timeout_s * 1000),  # then the record is reported failed -> ledger
        "message.max.bytes": 8 * 1024 * 1024,
        "socket.keepalive.enable": True,
        "socket.nagle.disable": True,       # latency: do not hold small produce requests back (delayed ACK)
        "reconnect.backoff.max.ms": 2000,
        "client.id": "crypto-streaming",
        "logger": logging.getLogger("streaming.librdkafka"),  # librdkafka logs as JSON lines too
        **s.extra,
    })


class KafkaSink:
    """Thin, allocation-light wrapper used by the pipeline (sync ``produce``) and the service loop."""

    def __init__(self, settings: KafkaSettings, latency_sample: int = 16) -> None:
        self.settings = settings
        self.p = Producer(producer_config(settings), on_delivery=self._on_delivery)
        self._produce, self._poll = self.p.produce, self.p.poll
        self.produced = 0
        self.delivered = 0
        self.failed = 0
        self.failed_by_reason: dict[str, int] = {}
        self.overflow: deque[tuple[str, bytes, bytes, int | None]] = deque()
        self.blocked = False
        self.ack_latency = FastHistogram()     # produce() -> broker ack (sampled)
        self.event_latency = FastHistogram()   # exchange event time -> broker ack (sampled)
        self._poll_every = settings.poll_every
        self._sample_mask = (1 << max(0, latency_sample - 1).bit_length()) - 1  # next power of two - 1
        self.broker_up = True
        self._last_error_log = 0.0
        # (topic, key, value, create time ms) of a record whose delivery failed; set by the service
        self.on_undelivered: Callable[[str, bytes | None, bytes | None, int], None] | None = None
        self.delivered_at_failure = 0  # `delivered` when the last failure came: more since = Kafka delivers again

    # ----------------------------------------------------------------------------- hot path
    def produce(self, topic: str, key: bytes, value: bytes, event_ms: int | None = None) -> None:
        if self.overflow:  # keep order behind records already waiting
            self.overflow.append((topic, key, value, event_ms))
            return
        n = self.produced
        try:
            if event_ms is not None and not (n & self._sample_mask):
                self._produce(topic, value, key, on_delivery=self._sampled(event_ms))
            else:
                self._produce(topic, value, key)
        except BufferError:
            self.overflow.append((topic, key, value, event_ms))
            self.blocked = True
            return
        self.produced = n + 1
        if not (n + 1) % self._poll_every:
            self._poll(0)

    def produce_marked(self, topic: str, key: bytes, value: bytes, on_ok: Callable[[], None]) -> None:
        """``produce`` whose success report calls ``on_ok`` (the stream's confirmed-position mark)."""
        if self.overflow:
            self.overflow.append((topic, key, value, None))
            return

        def cb(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                return self._failed(err, msg)
            self.delivered += 1
            on_ok()
        try:
            self._produce(topic, value, key, on_delivery=cb)
        except BufferError:
            self.overflow.append((topic, key, value, None))
            self.blocked = True
            return
        self.produced += 1

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            self.delivered += 1
            return
        self._failed(err, msg)

    def _failed(self, err: KafkaError, msg: Any) -> None:
        self.failed += 1
        name = err.name()
        self.failed_by_reason[name] = self.failed_by_reason.get(name, 0) + 1
        self.delivered_at_failure = self.delivered
        now = time.monotonic()
        if now - self._last_error_log > 5:
            self._last_error_log = now
            log.error("delivery failed; the record goes to its stream's ledger for redelivery",
                      extra={"topic": msg.topic(), "error": str(err), "failed_total": self.failed})
        if self.on_undelivered is not None:
            try:
                self.on_undelivered(msg.topic(), msg.key(), msg.value(), msg.timestamp()[1])
            except Exception:  # noqa: BLE001 - a delivery callback must never raise into librdkafka
                log.exception("could not record an undelivered record")

    def _sampled(self, event_ms: int):
        def cb(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                return self._failed(err, msg)
            self.delivered += 1
            lat = msg.latency()
            if lat is not None:
                self.ack_latency.observe(lat)
            self.event_latency.observe(max(0.0, time.time() - event_ms / 1000))
        return cb

    # ----------------------------------------------------------------------------- async side
    async def wait_writable(self) -> None:
        """Block the caller (a websocket reader, a backfill) until the overflow drained into librdkafka."""
        while self.overflow:
            self.p.poll(0)
            while self.overflow:
                topic, key, value, ev = self.overflow[0]
                try:
                    self.p.produce(topic, value, key)
                except BufferError:
                    break
                self.overflow.popleft()
                self.produced += 1
            if self.overflow:
                await asyncio.sleep(0.05)
        self.blocked = False

    async def poll_loop(self, interval: float = POLL_INTERVAL_S) -> None:
        """Serve delivery callbacks on a cadence even when no frames arrive."""
        while True:
            self.p.poll(0)
            if self.overflow:
                await self.wait_writable()
            await asyncio.sleep(interval)

    def error_cb(self, err: KafkaError) -> None:
        log.warning("kafka client error", extra={"error": str(err)})

    @property
    def in_flight(self) -> int:
        return len(self.p) + len(self.overflow)

    def flush(self, timeout: float) -> int:
        """Deliver everything (SIGTERM path); returns the number of records still undelivered."""
        deadline = time.monotonic() + timeout
        while self.overflow and time.monotonic() < deadline:
            topic, key, value, _ = self.overflow[0]
            try:
                self.p.produce(topic, value, key)
                self.overflow.popleft()
                self.produced += 1
            except BufferError:
                self.p.poll(0.1)
        remaining = self.p.flush(max(0.0, deadline - time.monotonic()))
        return remaining + len(self.overflow)
