"""Envelope -> latest_ticker updates: the three kinds, exact decimals, the newest per batch, and bad records
named by field and value."""
from decimal import Decimal

import orjson
import pytest

from serving.ticker_events import BadRecord, BookUpdate, PriceUpdate, StatsUpdate, newest, parse, wanted
from shared.envelope import Source, build_envelope

T = 1_767_225_600_000


def env(stream: str, payload: dict, source: Source = Source.SIMULATOR) -> bytes:
    return build_envelope(stream, "BTCUSDT", source, payload, T + 5)


def test_trade_gives_a_price():
    [u] = parse(env("btcusdt@trade", {"e": "trade", "E": T, "s": "BTCUSDT", "t": 1, "p": "100.10000000", "q": "1"}))
    assert u == PriceUpdate("BTCUSDT", Decimal("100.10000000"), T, "simulator")


def test_ticker_gives_price_and_stats_and_mini_ticker_derives_the_change():
    full = {"e": "24hrTicker", "E": T, "s": "BTCUSDT", "p": "-1.5", "P": "-1.478", "c": "100", "o": "101.5",
            "h": "102", "l": "99", "v": "10", "q": "1000"}
    price, stats = parse(env("btcusdt@ticker", full, Source.BINANCE))
    assert price == PriceUpdate("BTCUSDT", Decimal("100"), T, "binance")
    assert stats.price_change == Decimal("-1.5") and stats.price_change_pct == Decimal("-1.478")
    mini = {k: v for k, v in full.items() if k not in ("p", "P")} | {"e": "24hrMiniTicker"}
    _, stats = parse(env("btcusdt@miniTicker", mini))
    assert isinstance(stats, StatsUpdate)
    assert stats.price_change == Decimal("-1.5") and stats.price_change_pct == Decimal("-1.478")


def test_book_ticker_is_ordered_by_update_id_and_timed_by_ingest():
    [b] = parse(env("btcusdt@bookTicker", {"u": 42, "s": "BTCUSDT", "b": "99.9", "B": "2", "a": "100.1", "A": "3"}))
    assert b == BookUpdate("BTCUSDT", Decimal("99.9"), Decimal("2"), Decimal("100.1"), Decimal("3"), 42, T + 5, "simulator")


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "not JSON"),
    (b'{"payload": 3}', "object 'payload'"),
    (env("btcusdt@trade", {"e": "trade", "E": T, "p": "abc"}), "'p' = 'abc': not a decimal"),
    (env("btcusdt@trade", {"e": "trade", "E": T, "p": "NaN"}), "'p' = 'NaN': not finite"),
    (env("btcusdt@trade", {"e": "trade", "E": "soon", "p": "1"}), "'E' = 'soon'"),
    (env("btcusdt@kline_1m", {"e": "kline", "E": T}), "event type 'kline'"),
    (orjson.dumps({"symbol": "BTCUSDT", "source": "made-up", "payload": {"e": "trade"}}), "'source' = 'made-up'"),
])
def test_bad_records_name_the_field_and_value(raw, message):
    with pytest.raises(BadRecord, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(raw)


def test_only_the_newest_update_per_symbol_and_kind_survives_a_batch():
    a = PriceUpdate("BTCUSDT", Decimal(1), T + 2, "simulator")
    b = PriceUpdate("BTCUSDT", Decimal(2), T + 1, "simulator")  # older, arrived later
    c = BookUpdate("BTCUSDT", Decimal(1), Decimal(1), Decimal(2), Decimal(1), 7, T, "simulator")
    d = BookUpdate("BTCUSDT", Decimal(1), Decimal(1), Decimal(3), Decimal(1), 6, T + 9, "simulator")
    assert sorted(newest([a, b, c, d]), key=str) == sorted([a, c], key=str)


def test_streams_are_chosen_by_message_key():
    assert wanted(b"btcusdt@trade") and wanted(b"ethusdt@bookTicker") and wanted(b"x@miniTicker")
    assert not wanted(b"btcusdt@aggTrade") and not wanted(b"btcusdt@depth20") and not wanted(None)
