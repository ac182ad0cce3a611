"""Envelope contract and the hot path with an in-memory sink (no Kafka)."""
import asyncio
import base64
import time

import orjson
import pytest

from shared.envelope import (DLQ_TOPIC, ENVELOPE_FIELDS, SCHEMA_VERSION, EnvelopePrefix, Source, build_envelope,
                             parse_envelope, topic_for)
from shared.symbols import ActiveSymbol
from streaming.pipeline import Pipeline


class ListSink:
    blocked = False

    def __init__(self):
        self.records, self.marked = [], []
        self.delivered = self.delivered_at_failure = 0

    def produce(self, topic, key, value, event_ms=None):
        self.records.append((topic, key, value))

    def produce_marked(self, topic, key, value, on_ok):
        self.records.append((topic, key, value))
        self.marked.append(on_ok)


def trade(t, p="100.5", q="0.1", E=None, s="BTCUSDT"):
    E = E or int(time.time() * 1000)
    return {"e": "trade", "E": E, "s": s, "t": t, "p": p, "q": q, "T": E - 1, "m": False, "M": True}


def frame(stream, data) -> bytes:
    return b'{"stream":"%s","data":%s}' % (stream.encode(), orjson.dumps(data))


@pytest.fixture
def pipe():
    sym = ActiveSymbol(symbol="BTCUSDT", tier="t", priority=1, streams=("trade", "kline_1m", "depth20"))
    sink = ListSink()
    return Pipeline([sym], Source.SIMULATOR, sink), sink


def test_envelope_fields_and_untouched_payload(pipe):
    p, sink = pipe
    data = trade(7)
    raw_payload = orjson.dumps(data).replace(b",", b", ")  # odd spacing must survive byte for byte
    p.on_frame(b'{"stream":"btcusdt@trade","data":' + raw_payload + b"}")
    topic, key, value = sink.records[0]
    assert topic == "crypto_raw_btcusdt" == topic_for("BTCUSDT") and key == b"btcusdt@trade"
    env = parse_envelope(value)
    assert list(env) == list(ENVELOPE_FIELDS)
    assert env["schema_version"] == SCHEMA_VERSION and env["source"] == "simulator"
    assert env["event_type"] == "trade" and env["event_time_ms"] == data["E"] and env["symbol"] == "BTCUSDT"
    assert raw_payload in value and env["payload"] == data
    assert abs(env["ingest_time_ms"] - time.time() * 1000) < 5000


def test_envelope_prefix_null_event_time_and_unknown_source():
    v = EnvelopePrefix("btcusdt@depth20", "BTCUSDT", "depthPartial", Source.REST_BACKFILL).build(None, 5, b"{}")
    assert orjson.loads(v)["event_time_ms"] is None and orjson.loads(v)["source"] == "rest_backfill"
    bad = build_envelope("x@trade", "X", Source.BINANCE, {"E": 1}, 2).replace(b'"binance"', b'"fake"', 1)
    with pytest.raises(ValueError):
        parse_envelope(bad)


@pytest.mark.parametrize("raw,reason", [
    (b'{"stream":"btcusdt@trade","data":{"e":"trade"', "invalid_json"),
    (b'[1,2]', "not_an_object"),
    (b'{"stream":"dogeusdt@trade","data":{}}', "unknown_stream"),
    (frame("btcusdt@trade", {**trade(1), "t": "1"}), "schema_violation"),
    (frame("btcusdt@trade", {k: v for k, v in trade(1).items() if k != "q"}), "schema_violation"),
    (frame("btcusdt@trade", trade(1, p="0")), "impossible_value"),
    (frame("btcusdt@trade", trade(1, q="-1")), "impossible_value"),
    # 2100-01-01: stays in the future however long after collection the test runs
    (frame("btcusdt@trade", trade(1, E=4_102_444_800_000)), "impossible_value"),
    (frame("btcusdt@trade", trade(1, s="ETHUSDT")), "symbol_mismatch"),
    (frame("btcusdt@depth20", {"lastUpdateId": 1, "bids": [["-1", "1"]], "asks": []}), "impossible_value"),
    (b"x" * (1024 * 1024 + 1), "oversized_frame"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_frames_go_to_dlq_with_reason_and_raw_bytes(pipe, raw, reason):
    p, sink = pipe
    p.on_frame(raw)
    p.on_frame(frame("btcusdt@trade", trade(1)))   # good data keeps flowing
    (t1, _, v1), (t2, _, _) = sink.records
    assert t1 == DLQ_TOPIC and t2 == "crypto_raw_btcusdt"
    rec = orjson.loads(v1)
    assert rec["reason"] == reason and rec["detail"] and p.dlq_counts == {reason: 1}
    assert base64.b64decode(rec["raw_b64"]) == raw[:256 * 1024] and rec["raw_size"] == len(raw)


def test_duplicates_dropped_and_server_shutdown_triggers_rollover(pipe):
    p, sink = pipe
    for t in (1, 2, 2, 1, 3):
        p.on_frame(frame("btcusdt@trade", trade(t)))
    assert [orjson.loads(v)["payload"]["t"] for _, _, v in sink.records] == [1, 2, 3]
    called = []
    p.on_frame(b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}', lambda: called.append(1))
    p.on_frame(b'{"result":null,"id":1}')
    assert called == [1] and p.control_replies == 1 and not p.dlq_counts


def test_gap_triggers_backfill_and_ordered_merge(pipe):
    p, sink = pipe

    class FakeBackfiller:
        async def fetch(self, st, lo, hi):
            return [(i, st.rest_prefix.build(1, 2, orjson.dumps(trade(i)))) for i in range(lo, hi + 1)], hi

    p.backfiller = FakeBackfiller()

    async def run():
        p.on_frame(frame("btcusdt@trade", trade(1)))
        p.on_frame(frame("btcusdt@trade", trade(5)))
        p.on_frame(frame("btcusdt@trade", trade(6)))
        await asyncio.sleep(0.05)
    asyncio.run(run())
    envs = [orjson.loads(v) for _, _, v in sink.records]
    assert [e["payload"]["t"] for e in envs] == [1, 2, 3, 4, 5, 6]
    assert [e["source"] for e in envs] == ["simulator"] + ["rest_backfill"] * 3 + ["simulator"] * 2
    st = p.streams["btcusdt@trade"]
    assert st.n_out_backfill == 3 and st.n_out_live == 3 and st.seq.gaps_filled == 1
