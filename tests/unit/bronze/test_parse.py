"""Envelope/payload parsing, typing, validation and quarantine routing (pure Spark, no services)."""
from datetime import datetime, timezone
from decimal import Decimal

import orjson

from crypto_pipeline.bronze import parse
from crypto_pipeline.lakehouse.tables import STREAM_TABLES
from shared.envelope import Source, build_envelope

T0 = 1752572415237


def kafka_df(spark, values: list[bytes], topic="crypto_raw_btcusdt"):
    rows = [(topic, 0, i, datetime.fromtimestamp(T0 / 1000, timezone.utc), b"k", v) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, "topic string, partition int, offset long, timestamp timestamp, key binary, value binary")


def trade(t, p="117850.01000000", q="0.00085000", **extra):
    return {"e": "trade", "E": T0 + 1, "s": "BTCUSDT", "t": t, "p": p, "q": q, "T": T0, "m": False, "M": True, **extra}


def env(stream, payload, symbol="BTCUSDT"):
    return build_envelope(stream, symbol, Source.SIMULATOR, payload, T0 + 5)


def run(spark, values):
    e = parse.envelopes(kafka_df(spark, values)).cache()
    per = [(t, parse.stream_rows(e, t)) for t in STREAM_TABLES.values()]
    valid = {t.name: parse.valid(df, t).collect() for t, df in per}
    q = parse.quarantine_rows(e, per).collect()
    return valid, q


def test_trade_typed_exact_and_drift_tolerated(spark):
    valid, q = run(spark, [env("btcusdt@trade", trade(1)), env("btcusdt@trade", trade(2, newField={"x": 1}))])
    assert q == []
    rows = sorted(valid["trades"], key=lambda r: r.trade_id)
    assert [r.trade_id for r in rows] == [1, 2]
    r = rows[0]
    assert r.price == Decimal("117850.01") and r.quantity == Decimal("0.00085")
    assert r.quote_quantity == Decimal("117850.01") * Decimal("0.00085")  # exact, no rounding
    assert r.dt == "2025-07-15" and r.symbol == "BTCUSDT" and r.source == "simulator" and r.kafka_offset == 0
    assert r.quality_score == 1.0 and rows[1].quality_score < 1.0  # unknown key: ingested, flagged
    assert "newField" in rows[1].payload_json


def test_bad_rows_quarantined_with_reason(spark):
    values = [b"not json", env("btcusdt@trade", trade(3, p="0")), env("btcusdt@trade", trade(4, q="-1")),
              env("btcusdt@trade", {k: v for k, v in trade(5).items() if k != "t"}),
              env("btcusdt@trade", trade(6, p="abc")), env("btcusdt@avgPrice", {"e": "avgPrice", "E": T0, "s": "BTCUSDT"}),
              env("btcusdt@trade", trade(7))]
    valid, q = run(spark, values)
    assert [r.trade_id for r in valid["trades"]] == [7]
    reasons = {r.kafka_offset: r.reason for r in q}
    assert reasons == {0: "unparsable_envelope", 1: "trades:non_positive_price", 2: "trades:non_positive_quantity",
                       3: "trades:missing_field:t", 4: "trades:bad_decimal:p", 5: "unknown_event_type:avgPrice"}
    assert all(r.raw_value for r in q) and q[0].raw_value == "not json"


def test_kline_and_other_streams(spark):
    k = {"e": "kline", "E": T0 + 2000, "s": "BTCUSDT", "k": {"t": 1752572400000, "T": 1752572459999, "s": "BTCUSDT", "i": "1m",
         "f": 1, "L": 9, "o": "1.5", "c": "2.5", "h": "3", "l": "1", "v": "4.81234000", "n": 9, "x": True, "q": "10",
         "V": "2", "Q": "5", "B": "0"}}
    bad_k = orjson.loads(orjson.dumps(k))
    bad_k["k"]["h"] = "0.5"
    values = [env("btcusdt@kline_1m", k), env("btcusdt@kline_1m", bad_k),
              env("btcusdt@aggTrade", {"e": "aggTrade", "E": T0, "s": "BTCUSDT", "a": 3, "p": "1.0", "q": "2.0", "f": 5, "l": 7, "T": T0, "m": True, "M": True}),
              env("btcusdt@ticker", {"e": "24hrTicker", "E": T0, "s": "BTCUSDT", "p": "1", "P": "1.037", "w": "2", "x": "1", "c": "3", "Q": "1", "b": "2.9", "B": "1", "a": "3.1", "A": "1", "o": "2", "h": "4", "l": "1", "v": "10", "q": "20", "O": 1, "C": 2, "F": 3, "L": 4, "n": 2}),
              env("btcusdt@miniTicker", {"e": "24hrMiniTicker", "E": T0, "s": "BTCUSDT", "c": "3", "o": "2", "h": "4", "l": "1", "v": "10", "q": "20"}),
              env("btcusdt@bookTicker", {"u": 72981234567, "s": "BTCUSDT", "b": "1.0", "B": "3.21", "a": "1.1", "A": "0.54"}),
              env("btcusdt@depth5@100ms", {"lastUpdateId": 100, "bids": [["1.0", "2.0"]], "asks": [["1.1", "0.5"], ["1.2", "1"]]}),
              env("btcusdt@depth@100ms", {"e": "depthUpdate", "E": T0, "s": "BTCUSDT", "U": 101, "u": 105, "b": [["1.0", "0.00000000"]], "a": []})]
    valid, q = run(spark, values)
    (kl,) = valid["klines"]
    assert (kl.interval, kl.open_time_ms, kl.high, kl.volume, kl.is_closed, kl.first_trade_id, kl.last_trade_id) == \
        ("1m", 1752572400000, Decimal(3), Decimal("4.81234"), True, 1, 9)
    assert kl.dt == "2025-07-15"
    assert [r.reason for r in q] == ["klines:impossible:high<low"]
    (ag,) = valid["agg_trades"]
    assert (ag.agg_trade_id, ag.first_trade_id, ag.last_trade_id) == (3, 5, 7)
    kinds = sorted((r.kind, r.best_bid_price) for r in valid["tickers"])
    assert kinds == [("24h", Decimal("2.9")), ("mini", None)]
    (bt,) = valid["book_ticker"]
    assert bt.update_id == 72981234567 and bt.best_ask_quantity == Decimal("0.54")
    depth = {r.kind: r for r in valid["depth"]}
    assert depth["partial5"].last_update_id == 100 and len(depth["partial5"].asks) == 2
    assert depth["diff"].last_update_id == 105 and depth["diff"].first_update_id == 101
    assert depth["diff"].bids[0].quantity == Decimal(0)


def test_offset_filter_skips_rows_a_table_already_committed(spark):
    e = parse.envelopes(kafka_df(spark, [env("btcusdt@trade", trade(i)) for i in range(1, 6)]))
    cond = parse.offset_filter({"crypto_raw_btcusdt": {0: 3}}, {"crypto_raw_btcusdt": {0: 0}})
    assert [r.kafka_offset for r in e.where(cond).collect()] == [3, 4]
    assert parse.offset_filter({"t": {0: 0}}, {"t": {0: 0}}) is None


def test_key_prefilter_skips_only_streams_of_tables_not_written(spark):
    from crypto_pipeline.bronze.parse import key_prefilter

    keys = ["btcusdt@trade", "btcusdt@aggTrade", "btcusdt@kline_1m", "btcusdt@bookTicker", "btcusdt@ticker",
            "btcusdt@miniTicker", "btcusdt@ticker_1h", "btcusdt@depth5", "btcusdt@depth@100ms", None, "odd-key"]
    df = spark.createDataFrame([(k.encode() if k else None,) for k in keys], "key binary")
    kept = lambda tables: sorted(str(r.key.decode() if r.key else None) for r in df.where(key_prefilter(tables)).collect())  # noqa: E731
    assert kept({"trades"}) == sorted(["btcusdt@trade", "None", "odd-key"])
    assert kept({"tickers", "book_ticker"}) == sorted(["btcusdt@bookTicker", "btcusdt@ticker", "btcusdt@miniTicker",
                                                        "btcusdt@ticker_1h", "None", "odd-key"])
    assert key_prefilter({"trades", "agg_trades", "klines", "tickers", "depth", "book_ticker"}) is None
    # the driver-side twin keeps exactly the same keys
    from crypto_pipeline.bronze.parse import key_keep
    for tables in ({"trades"}, {"tickers", "book_ticker"}, {"depth"}):
        keep = key_keep(tables)
        assert sorted(str(k) for k in keys if keep(k.encode() if k else None)) == kept(tables)
    assert key_keep({"trades", "agg_trades", "klines", "tickers", "depth", "book_ticker"}) is None


def test_times_outside_the_calendar_are_quarantined_not_fatal(spark):
    """A forged record's time so large that Spark's millisecond-to-timestamp conversion overflows a long (which
    throws, failing the whole batch: a poison pill for the writer) is quarantined like any other bad time."""
    values = [env("btcusdt@trade", trade(1, T=2**62)), env("btcusdt@trade", trade(2, T=-(2**62))),
              env("btcusdt@aggTrade", {"e": "aggTrade", "E": 2**62, "s": "BTCUSDT", "a": 1, "p": "1.0", "q": "1.0",
                                       "f": 1, "l": 1, "T": 2**62, "m": True}),
              env("btcusdt@trade", trade(3))]
    valid, q = run(spark, values)
    assert [r.trade_id for r in valid["trades"]] == [3]
    assert {r.kafka_offset: r.reason for r in q} == {0: "trades:out_of_range:time", 1: "trades:out_of_range:time",
                                                     2: "agg_trades:out_of_range:time"}
