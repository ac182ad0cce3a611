"""Undelivered records: the ledger (merged id ranges), the pipeline hook that fills it, the positions file,
and one redelivery pass (Kafka presence and REST mocked: unit test)."""
import asyncio

import orjson
from shared.envelope import Source
from streaming import redelivery
from streaming.ledger import IdRanges
from streaming.pipeline import Pipeline
from streaming.positions import load_positions, save_positions
from streaming.redelivery import Redeliverer
from tests.unit.streaming.test_envelope_pipeline import frame, pipe, trade  # noqa: F401 - pipe is a fixture


def test_id_ranges_merge_and_remove():
    r = IdRanges()
    for i in (5, 6, 7, 10, 9, 1):
        r.add(i)
    assert r.ranges() == [[1, 1], [5, 7], [9, 10]] and len(r) == 6 and 6 in r and 8 not in r
    r.add(8)
    assert r.ranges() == [[1, 1], [5, 10]]
    r.add_range(0, 4)
    assert r.ranges() == [[0, 10]]
    r.remove_range(3, 5)
    assert r.ranges() == [[0, 2], [6, 10]]
    r.remove_range(-5, 100)
    assert not r and len(r) == 0
    assert IdRanges([[3, 4], [1, 2]]).ranges() == [[1, 4]]


def test_failed_records_go_to_the_ledger_and_marks_confirm_positions(pipe):
    p, sink = pipe
    for i in range(1, 6):
        if i == 3:
            p.request_marks()
        p.on_frame(frame("btcusdt@trade", trade(i)))
    st = p.streams["btcusdt@trade"]
    assert len(sink.marked) == 1 and st.delivered_mark is None
    sink.marked[0]()  # Kafka confirmed record 3 (so 1..3 are delivered or in the ledger)
    assert st.delivered_mark == 3
    for topic, key, value in sink.records[3:]:  # 4 and 5 failed
        p.on_undelivered(topic, key, value, 1_000)
    assert st.ledger.ranges() == [[4, 5]] and st.ledger_since_ms == 1_000
    assert p.stats()["btcusdt@trade"]["undelivered_pending"] == 2
    # a non-backfillable stream's failure is counted, not refillable
    p.on_undelivered("crypto_raw_btcusdt", b"btcusdt@depth20", b'{"payload":{}}', 1)
    assert p.streams["btcusdt@depth20"].undeliverable == 1
    pos = p.positions()
    assert pos["btcusdt@trade"] == {"delivered": 3, "undelivered": [[4, 5]], "since_ms": 1_000}
    assert p.positions(final=True)["btcusdt@trade"]["delivered"] == 5


def test_positions_file_round_trip_and_corrupt_file(tmp_path):
    f = tmp_path / "d" / "positions.json"
    assert load_positions(f) == {}
    save_positions(f, {"x@trade": {"delivered": 7, "undelivered": [[9, 9]], "since_ms": 1}})
    assert load_positions(f)["x@trade"]["delivered"] == 7
    f.write_text("{not json")
    assert load_positions(f) == {}


def test_redelivery_skips_ids_kafka_has_and_refills_the_rest(pipe, monkeypatch):
    p, sink = pipe
    st = p.streams["btcusdt@trade"]
    st.ledger.add_range(10, 14)
    st.ledger_since_ms = 5_000
    seen = {}

    def fake_ids_in_kafka(bootstrap, topic, stream, since_ms):
        seen["since"] = since_ms
        return {11, 99}  # 11 was stored although its delivery report failed

    class Rest:
        async def fetch(self, st, lo, hi):
            assert (lo, hi) == (10, 14)
            return [(i, st.rest_prefix.build(1, 2, orjson.dumps(trade(i)))) for i in range(lo, hi)], hi  # no 14

    monkeypatch.setattr(redelivery, "ids_in_kafka", fake_ids_in_kafka)
    r = Redeliverer(p, Rest(), "x", 1, 3)
    assert asyncio.run(r.once()) == 0, "no delivery since the last failure: Kafka is not back yet"
    sink.delivered = 1
    assert asyncio.run(r.once()) == 3
    assert [orjson.loads(v)["payload"]["t"] for _, _, v in sink.records] == [10, 12, 13]
    assert {orjson.loads(v)["source"] for _, _, v in sink.records} == {"rest_backfill"}
    assert not st.ledger and st.redelivered == 3 and st.seq.missing_unfilled == 1  # 14: REST had nothing
    assert seen["since"] == 5_000 - redelivery.SCAN_MARGIN_MS


def test_redelivery_keeps_the_ledger_while_rest_is_down(pipe, monkeypatch):
    p, sink = pipe
    st = p.streams["btcusdt@trade"]
    st.ledger.add_range(1, 2)
    sink.delivered = 1

    class DownRest:
        async def fetch(self, st, lo, hi):
            raise RuntimeError("503")

    monkeypatch.setattr(redelivery, "ids_in_kafka", lambda *a: set())
    r = Redeliverer(p, DownRest(), "x", 1, max_attempts=2)
    assert asyncio.run(r.once()) == 0 and st.ledger.ranges() == [[1, 2]]
    asyncio.run(r.once())  # second failure = max attempts: counted as unfillable, not retried forever
    assert not st.ledger and st.seq.missing_unfilled == 2


def test_stop_during_a_backfill_keeps_the_hole_for_the_next_start(pipe):
    p, sink = pipe

    class SlowRest:
        async def fetch(self, st, lo, hi):
            await asyncio.sleep(60)

    p.backfiller = SlowRest()

    async def run():
        p.on_frame(frame("btcusdt@trade", trade(1)))
        p.on_frame(frame("btcusdt@trade", trade(5)))  # gap 2..4, REST slow
        await asyncio.sleep(0.01)
        await p.drain()
    asyncio.run(run())
    st = p.streams["btcusdt@trade"]
    assert [orjson.loads(v)["payload"]["t"] for _, _, v in sink.records] == [1, 5]
    assert st.ledger.ranges() == [[2, 4]] and st.seq.missing_unfilled == 0
    assert p.positions(final=True)["btcusdt@trade"]["undelivered"] == [[2, 4]]


def test_resume_falls_back_to_the_positions_file_when_kafka_cannot_tell(tmp_path, monkeypatch):
    from shared.symbols import load_symbols
    from streaming import service as service_mod
    from streaming.config import load_streaming_settings

    pos = tmp_path / "positions.json"
    save_positions(pos, {"resusdt@trade": {"delivered": 41, "undelivered": [[30, 33]], "since_ms": 7},
                         "resusdt@aggTrade": {"delivered": 9, "undelivered": [], "since_ms": None}})
    settings = load_streaming_settings(env={}, overrides={"kafka.bootstrap_servers": "127.0.0.1:1",
                                                          "kafka.positions_file": str(pos)})
    sym_file = tmp_path / "symbols.yaml"
    sym_file.write_text("version: 1\ndefault_tier: t\ntiers:\n  t: {streams: [trade, aggTrade, kline_1m]}\n"
                        "symbols:\n  - {symbol: RESUSDT, tier: t}\n")
    symbols = load_symbols(sym_file, env={})

    def kafka_down(*a, **k):
        raise RuntimeError("broker unreachable")

    monkeypatch.setattr(service_mod, "read_positions", kafka_down)
    svc = service_mod.Service(settings, symbols)
    svc.pipeline = Pipeline(list(symbols.active), Source.SIMULATOR, svc.sink)
    asyncio.run(svc._resume())
    trade_st = svc.pipeline.streams["resusdt@trade"]
    assert trade_st.seq.last == 41 and trade_st.ledger.ranges() == [[30, 33]] and trade_st.ledger_since_ms == 7
    assert svc.pipeline.streams["resusdt@aggTrade"].seq.last == 9
    assert svc.resumed == {"kafka": 0, "file": 2, "fresh": 1}  # the kline stream had no saved position
    # the first live trade after the restart reveals the downtime as a gap (backfilled), not a fresh start
    from streaming.sequencing import GAP
    assert trade_st.seq.on_live(50, b"x") == GAP and trade_st.seq.gap == (42, 49)


def test_only_closed_klines_are_refillable(pipe):
    p, _ = pipe
    st = p.streams["btcusdt@kline_1m"]

    def env(t, closed):
        return orjson.dumps({"payload": {"e": "kline", "E": t + 1, "k": {"t": t, "x": closed}}})
    p.on_undelivered("crypto_raw_btcusdt", b"btcusdt@kline_1m", env(60_000, False), 5)
    assert not st.ledger  # an open bar's update is superseded by the next one
    p.on_undelivered("crypto_raw_btcusdt", b"btcusdt@kline_1m", env(120_000, True), 5)
    p.on_undelivered("crypto_raw_btcusdt", b"btcusdt@kline_1m", env(180_000, True), 5)
    assert st.ledger.ranges() == [[120_000, 120_000], [180_000, 180_000]] and len(st.ledger) == 2


def test_a_long_outage_is_refilled_in_bounded_spans(pipe, monkeypatch):
    p, sink = pipe
    st = p.streams["btcusdt@trade"]
    st.ledger.add_range(1, 25_000)
    sink.delivered = 1
    calls = []

    class Rest:
        async def fetch(self, st, lo, hi):
            calls.append((lo, hi))
            if len(calls) == 2:
                raise RuntimeError("503")  # REST fails on the second span: the rest waits, nothing is lost
            return [(i, b"v%d" % i) for i in range(lo, hi + 1)], hi

    monkeypatch.setattr(redelivery, "ids_in_kafka", lambda *a: set())
    r = Redeliverer(p, Rest(), "x", 1, max_attempts=5)
    assert asyncio.run(r.once()) == 10_000 and st.ledger.ranges() == [[10_001, 25_000]]
    assert asyncio.run(r.once()) == 15_000 and not st.ledger
    assert calls == [(1, 10_000), (10_001, 20_000), (10_001, 20_000), (20_001, 25_000)]
    assert st.seq.missing_unfilled == 0 and len(sink.records) == 25_000
