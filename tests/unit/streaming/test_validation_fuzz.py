"""Property tests of the hot path against hostile frames (tests/hostile_frames.py): every one goes to the DLQ with
a reason, none reaches a raw topic or raises, and valid trades around them stay complete. Plus the one decimal
grammar (shared/decimals.py) against an independent oracle."""
import time
from decimal import Decimal, InvalidOperation

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.decimals import is_decimal
from shared.envelope import DLQ_TOPIC, Source
from shared.symbols import ActiveSymbol
from streaming.pipeline import Pipeline
from tests.hostile_frames import (GRAMMAR_KINDS, NOT_DECIMAL, STREAMS, SYMBOL, frame, hostile_frame, hostile_level,
                                  hostile_payload, valid_level, valid_trade)
from tests.unit.streaming.test_envelope_pipeline import ListSink

NOW = int(time.time() * 1000)
FUZZ = ActiveSymbol(symbol=SYMBOL, tier="t", priority=1, streams=tuple(STREAMS))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bad=hostile_frame(NOW), tid=st.integers(1, 10**6))
def test_every_hostile_frame_goes_to_the_dlq_and_valid_trades_pass(bad, tid):
    sink = ListSink()
    p = Pipeline([FUZZ], Source.SIMULATOR, sink)
    p.on_frame(frame(STREAMS["trade"], orjson.dumps(valid_trade(tid, NOW))))
    p.on_frame(bad)
    p.on_frame(frame(STREAMS["trade"], orjson.dumps(valid_trade(tid + 1, NOW))))
    topics = [t for t, _, _ in sink.records]
    assert topics == ["crypto_raw_fuzzusdt", DLQ_TOPIC, "crypto_raw_fuzzusdt"], (bad[:300], topics)
    dlq = orjson.loads(sink.records[1][2])
    assert dlq["reason"] and dlq["detail"] and dlq["raw_size"] == len(bad)
    assert [orjson.loads(v)["payload"]["t"] for t, _, v in sink.records if t != DLQ_TOPIC] == [tid, tid + 1]


def oracle(s: str) -> bool:
    """Independent of the regex: plain ASCII digits with at most one '.', optional leading '-', and the value fits
    DECIMAL(38,18) without rounding."""
    body = s[1:] if s.startswith("-") else s
    if not body or not all(c in "0123456789." for c in body) or body.count(".") > 1 or body[0] == "." or body[-1] == ".":
        return False
    try:
        d = Decimal(body)
    except InvalidOperation:
        return False
    whole, _, frac = body.partition(".")
    return len(whole) <= 20 and len(frac) <= 18 and d.is_finite()


@settings(max_examples=3000)
@given(st.one_of(st.sampled_from(NOT_DECIMAL), st.text(alphabet="0123456789.-eE+_ ", max_size=45),
                 st.from_regex(r"-?[0-9]{1,22}(\.[0-9]{0,20})?", fullmatch=True), st.text(max_size=10)))
def test_decimal_grammar_matches_the_contract(s):
    assert is_decimal(s) == oracle(s), s


@settings(max_examples=2000)
@given(hostile_level)
def test_a_hostile_depth_level_is_never_a_valid_one(level):
    assert not valid_level(level), level


def test_a_value_of_the_wrong_type_can_be_a_valid_level():
    """Why the strategy filters: a "wrong type" once drawn for a level was ["9", "9"], a valid level, and the
    forged-records fuzz test then failed on bronze accepting it."""
    assert valid_level(["9", "9"]) and valid_level(["5", "0"])
    assert not any(valid_level(v) for v in (["0", "1"], ["1", "-1"], ["1"], "9", ["9", 9], ["1e1", "1"]))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_payload(NOW, GRAMMAR_KINDS))
def test_every_forged_payload_breaks_the_contract(drawn):
    """The payloads the forged-records fuzz test (tests/integration/security) writes straight into Kafka are
    invalid by construction: the streaming service, which applies the same contract, refuses each one."""
    stype, payload = drawn
    sink = ListSink()
    Pipeline([FUZZ], Source.SIMULATOR, sink).on_frame(frame(STREAMS[stype], payload))
    assert [t for t, _, _ in sink.records] == [DLQ_TOPIC], payload[:300]
