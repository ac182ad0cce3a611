"""Weight limiter, inbound message limiter, fault pipeline and archive parsing."""
import gzip

import orjson
import pytest

from binance_sim import ManualClock
from binance_sim.faults import FaultController, FaultSpec, FaultState, malformed_payload
from binance_sim.publisher import ws_text_frame
from binance_sim.ratelimit import MessageRateLimiter, WeightLimiter, depth_weight
from binance_sim.replay import parse_line, read_archive

pytestmark = pytest.mark.unit


def test_weight_limiter_429_then_reset_next_minute():
    clock = ManualClock(1_752_572_400_000 + 30_000)
    lim = WeightLimiter(clock, limit=100)
    assert lim.charge("1.2.3.4", 60) == (200, 60, 0)
    assert lim.charge("1.2.3.4", 40) == (200, 100, 0)
    status, used, retry = lim.charge("1.2.3.4", 1)
    assert (status, used, retry) == (429, 101, 30)
    assert lim.charge("5.6.7.8", 1)[0] == 200  # per IP
    clock.advance(30_000)
    assert lim.charge("1.2.3.4", 1) == (200, 1, 0)


def test_weight_limiter_bans_with_418():
    clock = ManualClock()
    lim = WeightLimiter(clock, limit=10, ban_after=3)
    lim.charge("ip", 10)
    assert [lim.charge("ip", 1)[0] for _ in range(3)] == [429, 429, 429]
    status, _, retry = lim.charge("ip", 1)
    assert status == 418 and retry == 120
    clock.advance(60_000)
    assert lim.charge("ip", 1)[0] == 418  # still banned in the next minute
    clock.advance(61_000)
    assert lim.charge("ip", 1)[0] == 200


@pytest.mark.parametrize("limit,w", [(1, 5), (100, 5), (101, 25), (500, 25), (1000, 50), (5000, 250)])
def test_depth_weights(limit, w):
    assert depth_weight(limit) == w


def test_incoming_message_limit():
    r = MessageRateLimiter(5)
    assert all(r.hit(0.1 * i) for i in range(5))
    assert not r.hit(0.5)
    r2 = MessageRateLimiter(5)
    assert all(r2.hit(0.25 * i) for i in range(20))  # 4/s sustained is fine


def frames(n):
    return [ws_text_frame(orjson.dumps({"e": "trade", "t": i, "p": "1.00000000"})) for i in range(1, n + 1)]


def ids(out):
    return [orjson.loads(f[2:])["t"] for f in out]


def test_fault_skip_duplicate_reorder():
    assert ids(FaultState(FaultSpec(skip_every=3), 0).process(frames(9), 0, 0, ws_text_frame)) == [1, 2, 4, 5, 7, 8]
    assert ids(FaultState(FaultSpec(duplicate_every=4), 0).process(frames(8), 0, 0, ws_text_frame)) == \
        [1, 2, 3, 4, 4, 5, 6, 7, 8, 8]
    assert ids(FaultState(FaultSpec(reorder_every=3), 0).process(frames(7), 0, 0, ws_text_frame)) == \
        [1, 2, 4, 3, 5, 7, 6]


def test_fault_drop_and_stall():
    st = FaultState(FaultSpec(drop_after_messages=5), 0)
    assert ids(st.process(frames(3), 0, 0, ws_text_frame)) == [1, 2, 3] and not st.drop_now
    assert len(st.process(frames(4), 0, 0, ws_text_frame)) == 2 and st.drop_now
    st = FaultState(FaultSpec(stall_after_messages=2, stall_for_s=1.0), 0)
    assert len(st.process(frames(5), 0, 0, ws_text_frame)) == 2
    assert st.process(frames(5), 0.5, 0, ws_text_frame) == [] and st.stalled(0.5)
    assert len(st.process(frames(5), 1.5, 0, ws_text_frame)) == 5
    st = FaultState(FaultSpec(drop_after_s=1.0), 0)
    st.check_time(0.5)
    assert not st.drop_now
    st.check_time(1.0)
    assert st.drop_now


@pytest.mark.parametrize("kind", ["invalid_json", "wrong_types", "missing_fields", "unknown_event", "oversized"])
def test_malformed_payloads(kind):
    sample = orjson.dumps({"stream": "btcusdt@trade", "data": {"e": "trade", "E": 1, "s": "BTCUSDT", "t": 5,
                                                               "p": "1.00000000", "q": "2.00000000", "m": True}})
    bad = malformed_payload(kind, sample, 123, 2 * 1024 * 1024)
    if kind == "invalid_json":
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(bad)
        return
    obj = orjson.loads(bad)
    if kind == "wrong_types":
        d = obj["data"]
        assert d["t"] == "5" and d["p"] == 1.0 and d["m"] == "yes"
    elif kind == "missing_fields":
        assert len(obj["data"]) < 7
    elif kind == "unknown_event":
        assert obj["e"] == "simUnknownEvent"
    else:
        assert len(bad) >= 2 * 1024 * 1024 - 64


def test_malformed_inserted_after_n():
    st = FaultState(FaultSpec(malformed="unknown_event", malformed_after=2, malformed_count=1), 0)
    out = st.process(frames(5), 0, 0, ws_text_frame)
    decoded = [orjson.loads(f[2:]) for f in out]
    assert [d.get("t") for d in decoded] == [1, 2, None, 3, 4, 5]


def test_fault_controller_next_default_refuse_rest():
    fc = FaultController({"skip_every": 2})
    fc.arm_next(FaultSpec(drop_after_messages=1), count=2)
    assert fc.take_for_new_connection().drop_after_messages == 1
    assert fc.take_for_new_connection().drop_after_messages == 1
    assert fc.take_for_new_connection().skip_every == 2
    fc.refuse(count=2, status=503)
    assert [fc.should_refuse() for _ in range(3)] == [503, 503, None]
    fc.arm_rest(500, count=2, path="/api/v3/depth")
    assert fc.take_rest("/api/v3/trades") is None
    assert fc.take_rest("/api/v3/depth")["status"] == 500
    assert fc.take_rest("/api/v3/depth")["status"] == 500
    assert fc.take_rest("/api/v3/depth") is None
    with pytest.raises(ValueError):
        FaultSpec.from_dict({"nope": 1})


def test_replay_line_formats(tmp_path):
    simple = b'{"recv_ts_ms": 1000, "stream": "btcusdt@trade", "data": {"e": "trade", "t": 1}}'
    assert parse_line(simple) == (1000, "btcusdt@trade", b'{"e":"trade","t":1}')
    env = orjson.dumps({"schema_version": 1, "source": "binance", "stream": "btcusdt@trade",
                        "ingest_ts_ms": 2000, "payload": {"e": "trade", "E": 1999, "t": 2}})
    assert parse_line(env) == (2000, "btcusdt@trade", b'{"e":"trade","E":1999,"t":2}')
    env2 = orjson.dumps({"stream": "x@trade", "payload": '{"E": 5, "t": 3}'})
    assert parse_line(env2) == (5, "x@trade", b'{"E":5,"t":3}')
    assert parse_line(b"   ") is None and parse_line(b"# comment") is None
    with pytest.raises(ValueError):
        parse_line(b'{"nostream": 1}')
    p = tmp_path / "a.jsonl.gz"
    with gzip.open(p, "wb") as fh:
        fh.write(simple + b"\n" + env + b"\n")
    assert len(list(read_archive(str(p)))) == 2
