"""Fuzzing the data path end to end: 10,000+ hostile websocket frames (tests/hostile_frames.py, drawn with
hypothesis) interleaved with dense valid trades, through the real streaming service into real Kafka, then bronze's
parser over what Kafka holds — plus 10,000+ forged Kafka records straight into a raw topic (as a local process
could write them while Kafka has no authentication) through bronze's parser.

Every hostile frame ends in crypto_dlq with a reason (byte-identical raw), the service keeps running, the raw topic
holds exactly the valid trades (dense ids), bronze accepts all of them and quarantines every forged record with a
reason; the one decimal grammar (shared/decimals.py) is judged the same by Python and Spark."""
from __future__ import annotations

import asyncio
import base64
import random
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from types import SimpleNamespace

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import serve

from shared.decimals import JAVA_PATTERN, is_decimal
from shared.envelope import EnvelopePrefix, Source
from tests.hostile_frames import (GRAMMAR_KINDS, NOT_DECIMAL, STREAMS, SYMBOL, frame, hostile_frame, hostile_payload,
                                  valid_trade)
from tests.integration.streaming.conftest import ServiceThread, assert_dense, read_topic, stream_records, symbols_yaml

N_HOSTILE, N_HUGE, N_VALID = 10_000, 12, 3_000
BIG = 64 * 1024
EVENT_TYPES = {"trade": "trade", "aggTrade": "aggTrade", "depth": "depthUpdate", "kline_1m": "kline",
               "bookTicker": "bookTicker", "miniTicker": "24hrMiniTicker"}


def draw(strategy, n: int, keep=lambda x: True) -> list:
    """n examples of a strategy (hypothesis as a generator: no shrinking, no example database)."""
    out: list = []

    @settings(max_examples=n + n // 5, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(x):
        if len(out) < n and keep(x):
            out.append(x)

    while len(out) < n:
        collect()
    return out


class FrameServer:
    """A websocket server in its own thread that sends a fixed list of text frames once, then stays idle."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames, self.sent, self.port = frames, 0, 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        assert ready.wait(30)
        self.ws_url = self.rest_url = f"ws://127.0.0.1:{self.port}"

    def _run(self, ready: threading.Event) -> None:
        async def handler(ws):
            while self.sent < len(self.frames):  # a reconnect continues where the last connection stopped
                await ws.send(self.frames[self.sent].decode())
                self.sent += 1
            await ws.wait_closed()

        async def main():
            async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None,
                             max_size=None) as server:
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                await asyncio.Future()

        self.loop.run_until_complete(main())


def kafka_df(spark, msgs):
    rows = [(m.topic(), m.partition(), m.offset(), datetime.fromtimestamp(m.timestamp()[1] / 1000, timezone.utc),
             m.key(), m.value()) for m in msgs]
    return spark.createDataFrame(rows, "topic string, partition int, offset long, timestamp timestamp, key binary, value binary")


def bronze_parse(spark, msgs) -> tuple[dict[str, list], list]:
    from crypto_pipeline.bronze import parse
    from crypto_pipeline.lakehouse.tables import STREAM_TABLES

    env = parse.envelopes(kafka_df(spark, msgs)).cache()
    per = [(t, parse.stream_rows(env, t)) for t in STREAM_TABLES.values()]
    valid = {t.name: parse.valid(df, t).collect() for t, df in per}
    return valid, parse.quarantine_rows(env, per).collect()


@pytest.fixture(scope="module")
def spark(spark):
    """The integration session's shared Spark (stopping it would end every later module's), case-sensitive as
    bronze's parser runs it, given back as it was."""
    before = spark.conf.get("spark.sql.caseSensitive")
    spark.conf.set("spark.sql.caseSensitive", "true")
    yield spark
    spark.conf.set("spark.sql.caseSensitive", before)


@pytest.fixture(scope="module")
def fuzz_run(kafka_stack, tmp_path_factory):
    """The streaming service fed 10,000+ hostile frames and N_VALID dense trades; what it reported and wrote."""
    boot = kafka_stack.settings.kafka_bootstrap
    now = int(time.time() * 1000)
    hostile = draw(hostile_frame(now), N_HOSTILE, keep=lambda f: len(f) <= BIG)
    hostile += draw(hostile_frame(now), N_HUGE, keep=lambda f: len(f) > BIG)
    random.Random(15).shuffle(hostile)
    frames, tid = [], 0
    for i, bad in enumerate(hostile):  # a valid trade every ~3 hostile frames, in id order
        if i % 3 == 0 and tid < N_VALID:
            tid += 1
            frames.append(frame(STREAMS["trade"], orjson.dumps(valid_trade(tid, now))))
        frames.append(bad)
    while tid < N_VALID:
        tid += 1
        frames.append(frame(STREAMS["trade"], orjson.dumps(valid_trade(tid, now))))

    server = FrameServer(frames)
    t_start = int(time.time() * 1000)
    svc = ServiceThread(boot, server, symbols_yaml(tmp_path_factory.mktemp("fuzz"), {SYMBOL: list(STREAMS)}),
                        overrides={"connection.stall_timeout_s": 600})
    svc.wait(lambda: svc.status()["frames"] >= len(frames), 600, "every frame read")
    svc.wait(lambda: svc.status()["delivered"] >= svc.status()["produced"], 120, "every record delivered")
    status, alive = svc.status(), svc.thread.is_alive()
    rc = svc.stop()
    dlq = [orjson.loads(m.value()) for m in read_topic(boot, "crypto_dlq", timeout=120)]
    return SimpleNamespace(hostile=hostile, status=status, alive=alive, rc=rc, boot=boot,
                           dlq=[d for d in dlq if d["ingest_time_ms"] >= t_start],
                           raw=read_topic(boot, f"crypto_raw_{SYMBOL.lower()}", timeout=120))


def test_hostile_frames_end_in_the_dlq_and_valid_trades_stay_dense(fuzz_run):
    r = fuzz_run
    assert r.status["state"] == "running" and r.alive and r.rc == 0  # no frame took the service down
    assert r.status["reconnects"] == 0 and r.status["delivery_failed"] == 0, r.status
    # every hostile frame is in the DLQ with a reason, byte for byte (raw truncated at 256 KiB for huge ones)
    assert sum(r.status["dlq"].values()) == len(r.hostile) == len(r.dlq), (r.status["dlq"], len(r.hostile), len(r.dlq))
    assert all(d["reason"] and d["detail"] for d in r.dlq)
    got = Counter((base64.b64decode(d["raw_b64"]), d["raw_size"]) for d in r.dlq)
    assert got == Counter((f[:256 * 1024], len(f)) for f in r.hostile)
    reasons = Counter(d["reason"] for d in r.dlq)
    assert {"invalid_json", "bad_decimal", "schema_violation", "impossible_value", "symbol_mismatch",
            "oversized_frame", "unknown_stream", "not_an_object"} <= set(reasons), reasons
    # the raw topic holds exactly the valid trades, dense; nothing of the other (only hostile) streams
    assert {m.key().decode() for m in r.raw} == {STREAMS["trade"]}
    assert_dense([e["payload"]["t"] for e in stream_records(r.boot, SYMBOL, STREAMS["trade"])], "trade ids")
    assert len(r.raw) == N_VALID


def test_bronze_accepts_everything_streaming_published(fuzz_run, spark):
    """One grammar: nothing the streaming service published is quarantined by bronze (no hole in the ids)."""
    valid, quarantined = bronze_parse(spark, fuzz_run.raw)
    assert quarantined == []
    assert sorted(r.trade_id for r in valid["trades"]) == list(range(1, N_VALID + 1))


def test_forged_kafka_records_are_quarantined_by_bronze(kafka_stack, spark):
    """What a local process could write into a raw topic without passing the streaming service."""
    boot = kafka_stack.settings.kafka_bootstrap
    topic = f"crypto_raw_forged{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": boot})  # held: a collected client cancels its futures
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    now = int(time.time() * 1000)
    payloads = draw(hostile_payload(now, GRAMMAR_KINDS), N_HOSTILE)
    garbage = draw(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                             st.sampled_from([b'{"schema_version":99,"payload":{}}', b"{}", b"null", b"[1]",
                                              b'{"schema_version":1,"source":"evil","symbol":"FUZZUSDT",'
                                              b'"event_type":"trade","ingest_time_ms":1,"payload":{"t":1}}'])), 500)
    p = Producer({"bootstrap.servers": boot, "linger.ms": 20})
    for stype, payload in payloads:
        prefix = EnvelopePrefix(STREAMS[stype], SYMBOL, EVENT_TYPES[stype], Source.BINANCE)
        p.produce(topic, prefix.build(now, now, payload), key=STREAMS[stype].encode())
    for g in garbage:
        p.produce(topic, g, key=b"garbage")
    assert p.flush(60) == 0
    msgs = read_topic(boot, topic, timeout=120)
    assert len(msgs) == len(payloads) + len(garbage) >= N_HOSTILE

    valid, quarantined = bronze_parse(spark, msgs)
    leaked = {name: [r.payload_json[:200] for r in rows] for name, rows in valid.items() if rows}
    assert leaked == {}, leaked
    assert len(quarantined) == len(msgs) and all(q.reason for q in quarantined)


@settings(max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(st.sampled_from(NOT_DECIMAL), st.text(alphabet="0123456789.-eE+_ \n", max_size=45),
                          st.from_regex(r"-?[0-9]{1,22}(\.[0-9]{0,20})?\n?", fullmatch=True), st.text(max_size=12)),
                min_size=2000, max_size=2000))
def test_python_and_spark_judge_decimals_by_the_same_grammar(spark, strings):
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(s,) for s in strings], "s string")
    rows = df.select("s", F.col("s").rlike(JAVA_PATTERN).alias("ok"), F.col("s").cast("decimal(38,18)").alias("d")).collect()
    for r in rows:
        assert r.ok == is_decimal(r.s), repr(r.s)
        if r.ok:  # a string in the grammar is never rounded or overflowed by bronze's type
            assert r.d is not None and r.d == __import__("decimal").Decimal(r.s), repr(r.s)
