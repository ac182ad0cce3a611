"""The hot path: one combined-stream frame in → validated, sequenced, enveloped, produced.

Per frame: one ``orjson.loads`` (validation needs the values), the payload bytes are *sliced* out of the
frame (untouched, not re-serialised), the envelope is a pre-built prefix + two ints + payload, and the
producer call takes (topic, key, value) built once per stream. Anything wrong goes to the DLQ with the
raw bytes; nothing raises out of :meth:`Pipeline.on_frame`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

import orjson

from shared.envelope import DLQ_TOPIC, EnvelopePrefix, Source, build_dlq, event_type_for
from shared.symbols import ActiveSymbol
from streaming.ledger import IdRanges
from streaming.sequencing import GAP, PUBLISH, IdSequencer, Sequencer, sequencer_for
from streaming.validation import (INVALID_JSON, NOT_AN_OBJECT, OVERSIZED, UNKNOWN_STREAM, Invalid,
                                  make_checker, run_check)

if TYPE_CHECKING:
    from streaming.archive import RawArchive
    from streaming.backfill import Backfiller
    from streaming.producer import KafkaSink

log = logging.getLogger("streaming.pipeline")

_EVENT_TYPES = {"trade": "trade", "aggTrade": "aggTrade", "ticker": "24hrTicker", "miniTicker": "24hrMiniTicker",
                "bookTicker": "bookTicker", "depth": "depthUpdate", "depth@100ms": "depthUpdate"}


class StreamState:
    """Everything the hot path needs for one stream, built once at start."""

    __slots__ = ("stream", "symbol", "stype", "prefix", "head", "rest_prefix", "topic", "key", "check", "seq", "n_in",
                 "n_out_live", "n_out_backfill", "backfill_task", "id_field", "ledger", "ledger_since_ms",
                 "delivered_mark", "want_mark", "undeliverable", "redelivered")

    def __init__(self, stream: str, symbol: str, stype: str, source: Source, max_future_ms: int) -> None:
        self.stream, self.symbol, self.stype = stream, symbol, stype
        et = "kline" if stype.startswith("kline_") else _EVENT_TYPES.get(stype) or event_type_for(stream, None)
        self.prefix = EnvelopePrefix(stream, symbol, et, source)
        self.head = self.prefix.head  # + b'<E>,"ingest_time_ms":<now>,"payload":<raw>}' == prefix.build()
        self.rest_prefix = EnvelopePrefix(stream, symbol, et, Source.REST_BACKFILL)
        self.topic, self.key = self.prefix.topic, self.prefix.key
        self.check = make_checker(stype, symbol, max_future_ms)
        self.seq: Sequencer = sequencer_for(stype)
        self.n_in = self.n_out_live = self.n_out_backfill = 0
        self.backfill_task: asyncio.Task | None = None
        # delivery bookkeeping (streaming/ledger.py): ids Kafka failed, the last id it confirmed
        self.id_field = {"trade": "t", "aggTrade": "a"}.get(stype, "k" if stype.startswith("kline_") else None)
        self.ledger = IdRanges()
        self.ledger_since_ms: int | None = None  # create time of the oldest failed record (Kafka scan start)
        self.delivered_mark: Any = None
        self.want_mark = False
        self.undeliverable = 0  # failed records of streams REST cannot refill (tickers, depth): counted, lost
        self.redelivered = 0

    def ledger_id(self, value: bytes) -> int | None:
        """The id a failed envelope stands for in the ledger (None: nothing to refill)."""
        d = orjson.loads(value)["payload"]
        if self.id_field == "k":
            return d["k"]["t"] if d["k"].get("x") else None  # an open bar is superseded by the next update
        return d[self.id_field]

    def on_mark(self, key: Any) -> None:
        if self.id_field == "k":
            self.delivered_mark = list(key)
        elif self.delivered_mark is None or key > self.delivered_mark:
            self.delivered_mark = key


class Pipeline:
    def __init__(self, symbols: list[ActiveSymbol], source: Source, sink: "KafkaSink", max_future_ms: int = 300_000,
                 backfiller: "Backfiller | None" = None, archive: "RawArchive | None" = None,
                 max_frame_bytes: int = 1024 * 1024, max_pending: int = 200_000) -> None:
        self.source = source
        self.sink = sink
        self.backfiller = backfiller
        self.archive = archive
        self.max_frame_bytes = max_frame_bytes
        self.max_pending = max_pending
        self.streams: dict[str, StreamState] = {}
        for a in symbols:
            for stype, name in zip(a.streams, a.stream_names):
                self.streams[name] = StreamState(name, a.symbol, stype, source, max_future_ms)
        self.dlq_counts: dict[str, int] = {}
        self.frames = 0
        self.control_replies = 0
        self.on_shutdown_event: Callable[[], None] | None = None

    # ------------------------------------------------------------------------------------ hot path
    def on_frame(self, raw: bytes, conn_cb: Callable[[], None] | None = None) -> None:
        """Handle one text frame of a combined-stream connection (``{"stream":..,"data":..}``)."""
        self.frames += 1
        now = int(time.time() * 1000)
        if len(raw) > self.max_frame_bytes:
            return self.dlq(OVERSIZED, f"frame of {len(raw)} bytes > {self.max_frame_bytes}", raw, now)
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            return self.dlq(INVALID_JSON, str(e), raw, now)
        if type(obj) is not dict:
            return self.dlq(NOT_AN_OBJECT, f"frame is a {type(obj).__name__}", raw, now)
        stream = obj.get("stream")
        st = self.streams.get(stream)  # type: ignore[arg-type]
        if st is None:
            return self._special(obj, raw, now, conn_cb)
        data = obj.get("data")
        st.n_in += 1
        try:
            if type(data) is not dict:
                raise TypeError
            key = st.check(data, now)
        except Exception:  # noqa: BLE001 - slow path: run_check turns it into a DLQ reason
            try:
                key = run_check(st.check, data, now)
            except Invalid as e:
                return self.dlq(e.reason, e.detail, raw, now, st.stream, st.symbol)
        # the payload, byte for byte: frames are '{"stream":"<name>","data":<payload>}'
        start = len(stream) + 20  # len('{"stream":"') + len(name) + len('","data":')
        if raw.startswith(b'","data":', start - 9) and raw.endswith(b"}") and raw.startswith(b'{"stream":"'):
            payload = raw[start:-1]
        else:  # other key order or whitespace: re-serialise (same JSON value)
            payload = orjson.dumps(data)
        ev = data.get("E")
        if type(ev) is int:
            value = b'%b%d,"ingest_time_ms":%d,"payload":%b}' % (st.head, ev, now, payload)
        else:
            value = st.prefix.build(ev, now, payload)
        if self.archive is not None:
            self.archive.add(now, stream, payload)
        code = st.seq.on_live(key, value)
        if code == PUBLISH:
            if st.want_mark:  # about once a second per stream: learn the last id Kafka confirmed
                st.want_mark = False
                self.sink.produce_marked(st.topic, st.key, value, partial(st.on_mark, key))
            else:
                self.sink.produce(st.topic, st.key, value, ev)
            st.n_out_live += 1
        elif code == GAP:
            self._gap(st)

    def _special(self, obj: dict, raw: bytes, now: int, conn_cb: Callable[[], None] | None) -> None:
        if "result" in obj or "error" in obj:  # control reply (SUBSCRIBE ...)
            self.control_replies += 1
            if obj.get("error"):
                log.error("control message rejected", extra={"reply": obj})
            return
        data = obj.get("data") if "data" in obj else obj
        if isinstance(data, dict) and data.get("e") == "serverShutdown":
            log.warning("serverShutdown received: rolling the connection over", extra={"event": data})
            if conn_cb is not None:
                conn_cb()
            return
        self.dlq(UNKNOWN_STREAM, f"stream {obj.get('stream')!r} is not subscribed", raw, now)

    def dlq(self, reason: str, detail: str, raw: bytes, now: int, stream: str | None = None,
            symbol: str | None = None) -> None:
        self.dlq_counts[reason] = self.dlq_counts.get(reason, 0) + 1
        try:
            self.sink.produce(DLQ_TOPIC, (stream or reason).encode(),
                              build_dlq(reason, detail, raw, self.source, now, stream, symbol))
        except Exception:  # noqa: BLE001 - the DLQ must never take the service down
            log.exception("could not write to the DLQ")

    def on_undelivered(self, topic: str, key: bytes | None, value: bytes | None, created_ms: int) -> None:
        """Delivery report with an error (KafkaSink.on_undelivered): the id goes to the stream's ledger."""
        st = self.streams.get(key.decode()) if key else None
        if st is None or value is None:  # DLQ records and foreign keys: counted by the sink only
            return
        if st.id_field is None or not st.seq.backfillable:
            st.undeliverable += 1
            return
        try:
            i = st.ledger_id(value)
        except Exception:  # noqa: BLE001 - our own envelope; cannot happen, but never raise here
            log.exception("undelivered record without an id", extra={"stream": st.stream})
            return
        if i is None:
            return
        if not st.ledger:
            log.error("records of this stream could not be delivered to Kafka; they will be refilled",
                      extra={"stream": st.stream, "first_id": i})
        st.ledger.add(i)
        if created_ms > 0 and (st.ledger_since_ms is None or created_ms < st.ledger_since_ms):
            st.ledger_since_ms = created_ms

    def request_marks(self) -> None:
        for st in self.streams.values():
            if st.id_field is not None:
                st.want_mark = True

    def positions(self, final: bool = False) -> dict[str, dict[str, Any]]:
        """For the positions file. ``final``: after a complete flush every published record was reported, so
        the sequencer's last id is confirmed (or its failure is in the ledger)."""
        out = {}
        for name, st in self.streams.items():
            if st.id_field is None:
                continue
            mark = st.delivered_mark
            if final and not st.seq.filling:
                last = getattr(st.seq, "last", None)
                mark = last if st.id_field != "k" else (
                    [st.seq.last_t, st.seq.last_e, st.seq.closed] if st.seq.last_t is not None else mark)
            if mark is None and not st.ledger:
                continue
            out[name] = {"delivered": mark, "undelivered": st.ledger.ranges(), "since_ms": st.ledger_since_ms}
        return out

    # ------------------------------------------------------------------------------------ gaps
    def _gap(self, st: StreamState) -> None:
        gap = st.seq.gap
        log.warning("gap detected", extra={"stream": st.stream, "gap_from": gap[0] if gap else None,
                                           "gap_to": gap[1] if gap else None})
        if self.backfiller is None or not st.seq.backfillable:
            self._publish(st, st.seq.abandon())
            return
        if st.backfill_task is None or st.backfill_task.done():
            st.backfill_task = asyncio.get_running_loop().create_task(self._fill(st))

    async def _fill(self, st: StreamState) -> None:
        """Backfill until the stream is continuous again; held frames are published in order."""
        seq = st.seq
        while seq.filling and seq.gap is not None:
            lo, hi = seq.gap
            try:
                records, upto = await self.backfiller.fetch(st, lo, hi)  # type: ignore[union-attr]
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - REST down for good: publish what we hold, count the hole
                log.error("backfill failed; publishing held frames with a hole",
                          extra={"stream": st.stream, "gap_from": lo, "gap_to": hi, "error": repr(e)})
                self._publish(st, seq.abandon())
                return
            n_rest = len(records)
            out, nxt = seq.on_backfill(records, upto)
            self._publish(st, out)
            log.info("gap filled" if nxt is None else "gap partly filled",
                     extra={"stream": st.stream, "gap_from": lo, "gap_to": hi, "rest_records": n_rest,
                            "published": len(out), "unfilled_total": seq.missing_unfilled})
            if self.sink.blocked:
                await self.sink.wait_writable()
            if len(seq.pending) > self.max_pending:
                log.error("too many frames held; giving up on the gap", extra={"stream": st.stream})
                self._publish(st, seq.abandon())

    def _publish(self, st: StreamState, values: list[bytes]) -> None:
        produce, topic, key = self.sink.produce, st.topic, st.key
        rest_head = st.rest_prefix.head
        for v in values:
            produce(topic, key, v)
            if v.startswith(rest_head):
                st.n_out_backfill += 1
            else:
                st.n_out_live += 1

    def check_pending_limits(self) -> None:
        """Called on a cadence: a stream held for too long (REST slow) must not grow without bound."""
        for st in self.streams.values():
            if st.seq.filling and len(st.seq.pending) > self.max_pending:
                if st.backfill_task is not None:
                    st.backfill_task.cancel()
                self._publish(st, st.seq.abandon())

    async def drain(self) -> None:
        """Shutdown: stop backfills, publish what is held; the unfilled hole of a trade/aggTrade stream goes to
        its ledger, so the positions file carries it and the next start refills it."""
        for st in self.streams.values():
            if st.backfill_task is not None and not st.backfill_task.done():
                st.backfill_task.cancel()
                try:
                    await st.backfill_task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
            if st.seq.filling and isinstance(st.seq, IdSequencer):
                before = len(st.ledger)
                self._publish(st, st.seq.abandon(holes=st.ledger))
                if len(st.ledger) > before:
                    st.ledger_since_ms = st.ledger_since_ms or int(time.time() * 1000)
                    log.warning("stopping during a backfill: the hole is kept for the next start",
                                extra={"stream": st.stream, "ids": len(st.ledger) - before})
            elif st.seq.filling:
                self._publish(st, st.seq.abandon())

    def stats(self) -> dict[str, Any]:
        return {name: {"in": s.n_in, "out_live": s.n_out_live, "out_backfill": s.n_out_backfill,
                       "duplicates": s.seq.duplicates, "gaps_found": s.seq.gaps_found,
                       "gaps_filled": s.seq.gaps_filled, "missing_unfilled": s.seq.missing_unfilled,
                       "held": len(s.seq.pending), "undelivered_pending": len(s.ledger),
                       "redelivered": s.redelivered, "undeliverable": s.undeliverable}
                for name, s in self.streams.items()}
