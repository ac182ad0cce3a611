"""The live latest_ticker consumer on real Kafka and PostgreSQL: reordered and replayed events never move a
price backwards, a crash between the database commit and the offset commit replays harmlessly, bad
records are counted and skipped, and the supervised service (infra/services.py) answers /healthz."""
import json
import time
import urllib.request
import uuid
from decimal import Decimal

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from serving.ticker_service import TickerConsumer
from shared.envelope import Source, build_envelope, topic_for

T = 1_767_225_600_000


class Crash(Exception):
    pass


@pytest.fixture()
def feed(kafka_stack, postgres_stack):
    symbol = "TCK" + uuid.uuid4().hex[:5].upper() + "USDT"
    bootstrap = kafka_stack.settings.kafka_bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the topic exists
    admin.create_topics([NewTopic(topic_for(symbol), 2, 1)])[topic_for(symbol)].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})

    def send(stream: str, payload: dict | None = None, raw: bytes | None = None, source=Source.SIMULATOR):
        value = raw if raw is not None else build_envelope(f"{symbol.lower()}@{stream}", symbol, source, payload,
                                                          int(time.time() * 1000))
        producer.produce(topic_for(symbol), key=f"{symbol.lower()}@{stream}".encode(), value=value)
        producer.flush(10)

    send.symbol, send.bootstrap = symbol, bootstrap
    return send


def trade(symbol, e, price):
    return {"e": "trade", "E": e, "s": symbol, "t": e, "p": price, "q": "1", "T": e}


def book(symbol, u, bid):
    return {"u": u, "s": symbol, "b": bid, "B": "1", "a": str(Decimal(bid) + 1), "A": "1"}


def consumer(feed, writer_dsn, group, **kw) -> TickerConsumer:
    return TickerConsumer(feed.bootstrap, writer_dsn, group_id=group, topic_pattern=f"^{topic_for(feed.symbol)}$",
                          offset_reset="earliest", poll_timeout=0.5, **kw)


def drain(c: TickerConsumer, timeout: float = 180) -> int:
    """Step until the consumer has read every partition to its end; returns the row parts changed."""
    changed, deadline = 0, time.monotonic() + timeout
    parts, pos, ends = [], [], []
    while time.monotonic() < deadline:
        changed += c.step()
        parts = c.consumer.assignment()
        if parts and c.pending is None:
            ends = [c.consumer.get_watermark_offsets(p, cached=False) for p in parts]
            # a partition this consumer got nothing from (the group had committed its end) has no position
            # yet (OFFSET_INVALID): its committed offset says where the group is
            committed = {(p.topic, p.partition): p.offset for p in c.consumer.committed(parts, timeout=10)}
            pos = [p if p.offset >= 0 else TopicPartition(p.topic, p.partition, committed[(p.topic, p.partition)])
                   for p in c.consumer.position(parts)]
            if all(hi == lo or p.offset >= hi for p, (lo, hi) in zip(pos, ends)):
                return changed
    raise AssertionError(f"consumer did not reach the end of its partitions in {timeout:.0f} s: assignment {parts}, "
                         f"positions {pos}, watermarks {ends}, pending batch {c.pending is not None}")


def row(dsn, symbol):
    with dsn.connect(autocommit=True) as conn:
        return conn.execute("select last_price, event_time_ms, best_bid, book_update_id, price_change, source "
                            "from latest_ticker where symbol = %s", (symbol,)).fetchone()


def test_reordered_replayed_and_crash_replayed_events_never_move_a_price_backwards(feed, writer_dsn, reader_dsn):
    s = feed.symbol
    for e, p in [(T + 1, "1"), (T + 3, "3"), (T + 2, "2")]:  # T+2 arrives after T+3
        feed("trade", trade(s, e, p))
    feed("bookTicker", book(s, 10, "50"))
    feed("bookTicker", book(s, 8, "40"))  # older book update, later
    feed("ticker", {"e": "24hrTicker", "E": T + 2, "s": s, "p": "2", "P": "200.000", "c": "2", "o": "1", "h": "3",
                    "l": "1", "v": "9", "q": "18"})
    group = "it-" + uuid.uuid4().hex[:6]
    with reader_dsn.connect(autocommit=True) as listener:
        listener.execute("listen serving_ticker")
        c1 = consumer(feed, writer_dsn, group)
        try:
            assert drain(c1) >= 3
        finally:
            c1.close()
        assert row(reader_dsn, s) == (Decimal("3"), T + 3, Decimal("50"), 10, Decimal("2"), "simulator")
        notes = [json.loads(n.payload) for n in listener.notifies(timeout=1)]
        assert notes and all(n["symbol"] == s for n in notes)
        assert notes[-1]["event_time_ms"] <= T + 3 and max(n["event_time_ms"] or 0 for n in notes) == T + 3

        # new price, and a crash after the database commit but before the Kafka offset commit
        feed("trade", trade(s, T + 6, "6"))

        def crash():
            raise Crash()

        c2 = consumer(feed, writer_dsn, group, after_db_commit=crash)
        try:
            with pytest.raises(Crash):
                drain(c2)
        finally:
            c2.close()
        assert row(reader_dsn, s)[:2] == (Decimal("6"), T + 6)
        list(listener.notifies(timeout=0.5))  # the price-6 announcement
        # the restarted consumer gets the same batch again (offsets were not committed): no change at all,
        # and a replay of every old event (source=replay) cannot move anything back either
        for e, p in [(T + 1, "1"), (T + 3, "3"), (T + 5, "5")]:
            feed("trade", trade(s, e, p), source=Source.REPLAY)
        feed("bookTicker", book(s, 9, "45"), source=Source.REPLAY)
        c3 = consumer(feed, writer_dsn, group)
        try:
            assert drain(c3) == 0
        finally:
            c3.close()
        assert list(listener.notifies(timeout=1)) == []
    assert row(reader_dsn, s) == (Decimal("6"), T + 6, Decimal("50"), 10, Decimal("2"), "simulator")


def test_bad_records_are_counted_logged_and_skipped(feed, writer_dsn, reader_dsn):
    s = feed.symbol
    feed("trade", raw=b"{garbage")
    feed("trade", trade(s, T + 1, "not-a-price"))
    feed("trade", raw=b'{"symbol": "X", "source": "simulator", "payload": {"e": "trade", "E": 1, "p": "1"}, "s": 1}')
    feed("trade", trade(s, T + 2, "7.5"))
    c = consumer(feed, writer_dsn, "it-" + uuid.uuid4().hex[:6])
    try:
        drain(c)
        bad = c.metrics.messages.labels("bad")._value.get()
    finally:
        c.close()
    assert bad == 2  # garbage JSON and the unparsable price; the third is valid for symbol "X"
    assert row(reader_dsn, s)[:2] == (Decimal("7.5"), T + 2)
    with writer_dsn.connect(autocommit=True) as conn:
        conn.execute("delete from latest_ticker where symbol = 'X'")


def test_supervised_service_serves_health_and_follows_the_feed(kafka_stack, postgres_stack, feed, reader_dsn):
    kafka_stack.start("serving-ticker")
    base = f"http://{kafka_stack.settings.bind_host}:{kafka_stack.settings.serving.ticker_port}"
    assert urllib.request.urlopen(f"{base}/healthz", timeout=5).status == 200
    deadline = time.monotonic() + 60
    e = int(time.time() * 1000)
    while time.monotonic() < deadline:  # the group starts at "latest": keep feeding until it is assigned
        e += 1
        feed("trade", trade(feed.symbol, e, "42.5"))
        got = row(reader_dsn, feed.symbol)
        if got is not None:
            break
        time.sleep(1)
    assert got is not None and got[0] == Decimal("42.5")
    metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
    assert "ticker_rows_changed_total" in metrics and "ticker_event_to_commit_seconds_bucket" in metrics
