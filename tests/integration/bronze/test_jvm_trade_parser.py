"""The fast loop's JVM trade parser (``TradeRecordParser``) against Spark's parse (crypto_pipeline/bronze/parse.py),
record by record: every record the JVM accepts, Spark accepts too, with exactly the same row; every record Spark
refuses, the JVM leaves to Spark. Over valid trades of many shapes (which the JVM must accept, or the fast path
would never run), hostile payloads of every stream (tests/hostile_frames.py), broken envelopes and records the
JVM deliberately leaves to Spark (inexact decimals, drift keys). Then through run_bronze: a batch holding a bad
record is parsed by Spark (and the bad record left to the quarantine), a clean one by the JVM."""
from __future__ import annotations

import json
import random
import uuid
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py4j.java_gateway import get_field

from crypto_pipeline.bronze import parse
from crypto_pipeline.bronze.job import prepare_session, run_bronze
from crypto_pipeline.lakehouse.java_writer import JavaWriters, _record_parser, pack_records
from crypto_pipeline.lakehouse.kafka_batch import DriverKafkaReader, records_frame
from crypto_pipeline.lakehouse.tables import TRADES, bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from shared.envelope import EnvelopePrefix, Source, event_type_for
from tests.hostile_frames import STREAMS, SYMBOL, hostile_payload, valid_trade
from tests.integration.bronze.helpers import bronze_case

NOW = 1_790_000_000_000
TOPIC = "crypto_raw_fuzzusdt"
TAG = uuid.uuid4().hex[:5]
PATTERN = f"^crypto_raw_xjp{TAG}.*"

prices = st.builds(lambda i, f: f"{i}.{f}" if f else str(i), st.integers(1, 10**10 - 1),
                   st.one_of(st.just(""), st.from_regex(r"[0-9]{1,8}", fullmatch=True)))
trades = st.fixed_dictionaries(
    {"e": st.just("trade"), "E": st.integers(NOW - 10**8, NOW + 10**5), "s": st.sampled_from([SYMBOL, SYMBOL.lower()]),
     "t": st.integers(0, 10**12), "p": prices, "q": prices, "T": st.integers(NOW - 10**8, NOW),
     "m": st.one_of(st.booleans(), st.none())},
    optional={"M": st.booleans()})


def _envelope(payload: bytes | dict, stream: str = STREAMS["trade"], ingest: int = NOW, source=Source.SIMULATOR,
              symbol: str = SYMBOL) -> bytes:
    """The streaming service's envelope around ``payload`` (raw bytes are kept as they are)."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    try:
        obj = json.loads(raw)
    except ValueError:
        obj = None
    et = obj.get("E") if isinstance(obj, dict) else None
    et = et if type(et) is int else None
    return EnvelopePrefix(stream, symbol, event_type_for(stream, obj), source).build(et, ingest, raw)


def _records(values: list[bytes]) -> list[tuple]:
    return [(b"k", v, TOPIC, 0, i, NOW, 0) for i, v in enumerate(values)]


def _spark_rows(spark, records) -> dict[int, dict]:
    prepare_session(spark)
    rows = parse.valid(parse.stream_rows(parse.envelopes(records_frame(spark, records)), TRADES), TRADES).collect()
    return {r["kafka_offset"]: r.asDict() for r in rows}


def _jvm_rows(spark, records) -> dict[int, dict | str]:
    """Per record: the JVM's row, or why it left the record to Spark (each record parsed alone)."""
    parser, out = _record_parser(spark), {}
    for rec in records:
        res = parser.parse(pack_records([rec]))
        fallback = get_field(res, "fallback")
        out[rec[4]] = fallback if fallback is not None else dict(get_field(res, "rows")[0])
    return out


def _compare(spark, values: list[bytes]) -> tuple[dict, dict]:
    records = _records(values)
    by_spark, by_jvm = _spark_rows(spark, records), _jvm_rows(spark, records)
    for offset, row in by_jvm.items():
        if isinstance(row, str):
            continue
        assert offset in by_spark, f"the JVM accepted a record Spark refuses: {values[offset]!r}"
        want = by_spark[offset]
        assert set(row) == set(want), (sorted(row), sorted(want))
        for col, v in want.items():
            got = row[col]
            assert got == v and type(got) is type(v), (col, got, v, values[offset])
            if isinstance(v, Decimal):   # the same value at the table's scale (applied when it is written)
                with localcontext(prec=60):
                    assert got.quantize(Decimal(10) ** -18) == v
    return by_spark, by_jvm


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(payloads=st.lists(trades, min_size=100, max_size=100),
       lags=st.lists(st.integers(-5_000, 60_000), min_size=100, max_size=100))
def test_valid_trades_are_parsed_by_the_jvm_exactly_as_by_spark(spark, payloads, lags):
    values = []
    for i, (p, lag) in enumerate(zip(payloads, lags)):
        if i % 5 == 0:
            p = {k: v for k, v in p.items() if k != "E"}   # the envelope's event time, or none at all
        values.append(_envelope(p, ingest=p.get("E", p["T"]) + lag))
    by_spark, by_jvm = _compare(spark, values)
    refused = {o: r for o, r in by_jvm.items() if isinstance(r, str)}
    assert not refused, [(r, values[o]) for o, r in refused.items()][:3]   # the fast path takes every one
    assert len(by_spark) == len(values)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_records_spark_refuses_are_left_to_spark(spark, data):
    values = []
    for _ in range(100):
        stype, payload = data.draw(hostile_payload(NOW))
        values.append(_envelope(payload, stream=STREAMS[stype]))
    _compare(spark, values)   # nothing the JVM accepts is refused by Spark, nor parsed differently


def test_envelopes_and_payloads_outside_the_fast_path_fall_back(spark):
    good = valid_trade(7, NOW)
    env = json.loads(_envelope(good))
    cases = {
        "nine decimals (inexact in Spark's narrow cast: a quality penalty)": _envelope({**good, "p": "1.123456789"}),
        "a drift key": _envelope({**good, "X": 1}),
        "a float in the payload": _envelope({**good, "E": 1.5}),
        "a string id": _envelope({**good, "t": "7"}),
        "another stream's event": _envelope({**good, "e": "aggTrade"}, stream=STREAMS["aggTrade"]),
        "a payload symbol of another market": _envelope({**good, "s": "BTCUSDT"}),
        "zero quantity": _envelope({**good, "q": "0.00000000"}),
        "a newer schema version": json.dumps({**env, "schema_version": 2}).encode(),
        "an unknown source": json.dumps({**env, "source": "mirror"}).encode(),
        "an unknown envelope key": json.dumps({**env, "extra": 1}).encode(),
        "a duplicated key": json.dumps(env).encode()[:-1] + b',"source":"binance"}',
        "single quotes": json.dumps(env).encode().replace(b'"source"', b"'source'"),
        "not UTF-8": json.dumps(env).encode().replace(b"simulator", b"simul\xffator"),
        "trailing data": json.dumps(env).encode() + b" {}",
        "not an object": b"[1, 2]",
    }
    values = [_envelope(good), *cases.values()]
    by_spark, by_jvm = _compare(spark, values)
    assert not isinstance(by_jvm[0], str)   # the control: a clean trade is taken
    left = [name for i, name in enumerate(cases, start=1) if isinstance(by_jvm[i], str)]
    assert left == list(cases), set(cases) - set(left)
    # some of these are valid to Spark (with a penalty, or read differently): Spark parses that batch
    assert {0, 1, 2} <= set(by_spark)


@pytest.mark.parametrize("bad", [False, True], ids=["clean batch", "a bad record in the batch"])
def test_run_bronze_parses_in_the_jvm_unless_a_record_needs_spark(kafka_stack, bad):
    sym = f"XJP{TAG}{'B' if bad else 'C'}".upper()
    case = bronze_case(kafka_stack, sym)
    spark, bucket, bootstrap, feed = case.spark, case.bucket, case.bootstrap, case.feed
    kafka = KafkaResource(bootstrap_servers=bootstrap, topic_pattern=PATTERN)
    java = JavaWriters(spark, ("trades",))
    with DriverKafkaReader(bootstrap) as reader:
        def cycle(ids):
            feed.trades(sym, ids)
            feed.flush()
            return run_bronze(spark, bucket, bootstrap, PATTERN, kafka.end_offsets(), tables=("trades",),
                              java_writers=java, driver_reader=reader).tables["trades"]

        assert cycle(range(1, 51)).parser == "spark"   # the first commit creates the table (datasource)
        if bad:
            feed.send(sym, f"{sym.lower()}@trade", {**valid_trade(51, NOW), "s": sym, "p": "-1.0"})
        ids = list(range(51, 101))
        random.Random(3).shuffle(ids)
        second = cycle(ids)
        assert (second.parser, second.writer, second.rows) == ("spark" if bad else "jvm", "java-client", 50)
        third = cycle(range(101, 121))
        assert (third.parser, third.rows) == ("jvm", 20)   # the bad record is behind the checkpoint now
    java.close()
    got = sorted(r.trade_id for r in spark.read.format("hudi").load(bronze_path(bucket, "trades"))
                 .where(f"symbol = '{sym}'").collect())
    assert got == list(range(1, 121))
