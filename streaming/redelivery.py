"""Refill what Kafka failed to take (the per-stream ledgers), once Kafka delivers again.

Every ``redeliver_interval_s``, when the producer has had a successful delivery since its last failure (the
broker is back) and is not applying backpressure, for each stream with undelivered ids:

1. read which of those ids Kafka holds anyway (``resume.ids_in_kafka`` from the oldest failed record's create
   time: a request that timed out in flight may have been stored) — they are not sent again;
2. fetch the rest from REST (the same backfill code as live gaps, ``source = rest_backfill``) and produce them;
3. remove them from the ledger. A record that fails again comes back to the ledger through the same path.

The ids arrive in Kafka after later ids of the same stream (Kafka order cannot be rewritten); consumers key
records by id (bronze: dense-id ranges), so the stream is complete, not reordered. Ids REST cannot provide
(older than its history) after ``redeliver_max_attempts`` tries are counted in ``missing_unfilled`` and logged.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from streaming.resume import ids_in_kafka

if TYPE_CHECKING:
    from streaming.backfill import Backfiller
    from shared.kafka_connection import KafkaConnection
    from streaming.pipeline import Pipeline, StreamState

log = logging.getLogger("streaming.redelivery")
SCAN_MARGIN_MS = 60_000  # create times are the producer's clock; start the scan a minute earlier
SPAN = 10_000  # ids per REST span (10 pages of historicalTrades / aggTrades)


class Redeliverer:
    def __init__(self, pipeline: "Pipeline", backfiller: "Backfiller | None", bootstrap: "KafkaConnection | str",
                 interval_s: float, max_attempts: int) -> None:
        self.p, self.backfiller, self.bootstrap = pipeline, backfiller, bootstrap
        self.interval_s, self.max_attempts = interval_s, max_attempts
        self.attempts: dict[str, int] = {}
        self.runs = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep trying; the ledger keeps the ids
                log.exception("redelivery pass failed; will retry")

    def kafka_delivers(self) -> bool:
        sink = self.p.sink
        return sink.delivered > sink.delivered_at_failure and not sink.blocked

    async def once(self) -> int:
        """One pass; returns the number of records produced again."""
        todo = [st for st in self.p.streams.values() if st.ledger]
        if not todo or not self.kafka_delivers():
            return 0
        self.runs += 1
        sent = 0
        for st in todo:
            sent += await self._stream(st)
        return sent

    async def _stream(self, st: "StreamState") -> int:
        since = (st.ledger_since_ms or 0) - SCAN_MARGIN_MS
        present = await asyncio.to_thread(ids_in_kafka, self.bootstrap, st.topic, st.stream, since)
        sent = 0
        for lo, hi in self._spans(st):
            n = await self._span(st, lo, hi, present)
            if n is None:  # REST not available: the rest of the ledger waits for the next pass
                break
            sent += n
            if self.p.sink.blocked:
                await self.p.sink.wait_writable()
        if not st.ledger:
            st.ledger_since_ms = None
        return sent

    @staticmethod
    def _spans(st: "StreamState") -> list[tuple[int, int]]:
        """REST requests to make: id ranges in chunks of SPAN ids (memory stays bounded after a long outage);
        kline open times (one range per bar) in one span, the REST call returns them all."""
        ranges = st.ledger.ranges()
        if st.id_field == "k":
            return [(ranges[0][0], ranges[-1][1])]
        return [(a, min(hi, a + SPAN - 1)) for lo, hi in ranges for a in range(lo, hi + 1, SPAN)]

    async def _span(self, st: "StreamState", lo: int, hi: int, present: set[int]) -> int | None:
        want = st.ledger
        if self.backfiller is None:
            records: list = []
            error = "REST backfill is off"
        else:
            try:
                records, _ = await self.backfiller.fetch(st, lo, hi)
                error = ""
            except Exception as e:  # noqa: BLE001 - REST down: keep the ledger, try again next pass
                records, error = [], repr(e)[:300]
        if error:
            n = self.attempts[st.stream] = self.attempts.get(st.stream, 0) + 1
            log.warning("redelivery: REST not available", extra={"stream": st.stream, "attempt": n, "error": error})
            if n < self.max_attempts and self.backfiller is not None:
                return None
        out, got = [], set()
        for key, value in records:
            i = key[0] if isinstance(key, tuple) else key
            if lo <= i <= hi and i in want and i not in present and i not in got:
                got.add(i)
                out.append(value)
        pending = sum(min(b, hi) - max(a, lo) + 1 for a, b in want.ranges() if a <= hi and b >= lo)
        already = sum(1 for i in present if lo <= i <= hi and i in want)
        st.ledger.remove_range(lo, hi)
        unfilled = pending - len(got) - already  # kline ranges are single bars: counts bars
        if unfilled > 0:
            st.seq.missing_unfilled += unfilled
        produce = self.p.sink.produce
        for v in out:
            produce(st.topic, st.key, v)
        st.n_out_backfill += len(out)
        st.redelivered += len(out)
        self.attempts.pop(st.stream, None)
        (log.error if unfilled > 0 else log.info)(
            "undelivered records refilled" if unfilled <= 0 else "undelivered records could not all be refilled",
            extra={"stream": st.stream, "from": lo, "to": hi, "produced": len(out), "already_in_kafka": already,
                   "unfilled": max(0, unfilled)})
        return len(out)
