"""Clients written by others against the real simulator: Binance's official SDK (`binance-sdk-spot`: websocket
streams via SUBSCRIBE with its own UUID ids, REST market endpoints) and ccxt. Their own models and parsers are
the judge: a payload they cannot parse, a field they do not know (`additional_properties`), a stream name they
cannot route, or an error reply fails the test. Run over plain ws/http and over TLS (wss/https with the
deploy-generated CA), like the real exchange."""
from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
import uuid

import ccxt
import pytest
from binance_common.errors import BadRequestError
from binance_sdk_spot.spot import ConfigurationRestAPI, ConfigurationWebSocketStreams, Spot
from binance_sdk_spot.websocket_streams import models as wsm

from binance_sim import SimConfig, SymbolSpec, run_in_thread
from binance_sim.tls import ensure_certificates

pytestmark = pytest.mark.integration

SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture(scope="module", params=["plain", "tls"])
def sim(request, tmp_path_factory):
    tls = None
    if request.param == "tls":
        tls = ensure_certificates(tmp_path_factory.mktemp("tls"))
    h = run_in_thread(SimConfig(symbols=[SymbolSpec.default(s, rate=50) for s in SYMBOLS],
                                tls_cert=str(tls.cert) if tls else None, tls_key=str(tls.key) if tls else None))
    h.tls = tls
    yield h
    h.stop()


@pytest.fixture()
def trust(sim, monkeypatch):
    """How each client is told to trust the simulator's CA (and nothing else): the SDK takes an SSLContext
    (`https_agent`), ccxt reads REQUESTS_CA_BUNDLE once told to trust the environment. Processes started with SSL_CERT_FILE need
    neither (aiohttp builds its default context at import, so a test process cannot use that variable)."""
    if sim.tls is None:
        return None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.tls.ca))
    return ssl.create_default_context(cafile=str(sim.tls.ca))


def _no_unknown_fields(obj, where: str) -> None:
    """The SDK's models keep keys they do not declare in ``additional_properties``: there must be none."""
    extra = getattr(obj, "additional_properties", None)
    assert not extra, f"{where}: fields unknown to the official SDK: {extra}"


# (SDK call, its model, the stream name the SDK builds)
def _stream_calls(conn):
    return [
        (conn.trade(symbol="btcusdt"), wsm.TradeResponse, "btcusdt@trade"),
        (conn.agg_trade(symbol="btcusdt"), wsm.AggTradeResponse, "btcusdt@aggTrade"),
        (conn.kline(symbol="btcusdt", interval="1s"), wsm.KlineResponse, "btcusdt@kline_1s"),
        (conn.kline_offset(symbol="ethusdt", interval="1m"), wsm.KlineOffsetResponse, "ethusdt@kline_1m@+08:00"),
        (conn.mini_ticker(symbol="btcusdt"), wsm.MiniTickerResponse, "btcusdt@miniTicker"),
        (conn.all_mini_ticker(), wsm.AllMiniTickerResponseInner, "!miniTicker@arr"),
        (conn.ticker(symbol="ethusdt"), wsm.TickerResponse, "ethusdt@ticker"),
        (conn.book_ticker(symbol="btcusdt"), wsm.BookTickerResponse, "btcusdt@bookTicker"),
        (conn.partial_book_depth(symbol="btcusdt", levels=5, update_speed="100ms"), wsm.PartialBookDepthResponse,
         "btcusdt@depth5@100ms"),
        (conn.partial_book_depth(symbol="ethusdt", levels=20, update_speed="1000ms"), wsm.PartialBookDepthResponse,
         "ethusdt@depth20@1000ms"),
        (conn.diff_book_depth(symbol="btcusdt", update_speed="100ms"), wsm.DiffBookDepthResponse,
         "btcusdt@depth@100ms"),
        (conn.diff_book_depth(symbol="ethusdt", update_speed="1000ms"), wsm.DiffBookDepthResponse,
         "ethusdt@depth@1000ms"),
    ]


def test_official_sdk_streams_every_stream_type(sim, trust, caplog):
    caplog.set_level(logging.ERROR)

    async def main():
        client = Spot(config_ws_streams=ConfigurationWebSocketStreams(stream_url=sim.ws_url, https_agent=trust))
        conn = await client.websocket_streams.create_connection()
        assert conn is not None, "the SDK could not connect"
        got: dict[str, list] = {}
        try:
            calls = _stream_calls(conn)
            for coro, model, name in calls:
                handle = await coro
                handle.on("message", lambda d, n=name: got.setdefault(n, []).append(d))
            listed = await conn.list_subscribe()
            deadline = time.time() + 15
            while time.time() < deadline and not all(len(got.get(n, ())) >= 2 for _, _, n in calls):
                await asyncio.sleep(0.2)
            await conn.unsubscribe(["btcusdt@aggTrade"])  # UNSUBSCRIBE with the SDK's UUID id too
            await asyncio.sleep(0.5)
            after = await conn.list_subscribe()
            assert "btcusdt@aggTrade" not in after["result"] and "btcusdt@trade" in after["result"]
            return calls, got, listed
        finally:
            await conn.close_connection(close_session=True)

    calls, got, listed = asyncio.run(main())
    uuid.UUID(listed["id"])  # the SDK's own request id (a UUID with hyphens) was accepted and echoed
    assert sorted(listed["result"]) == sorted(n for _, _, n in calls)
    for _, model, name in calls:
        msgs = got.get(name)
        assert msgs, f"{name}: the SDK received nothing (stream not served or not routable by its name)"
        for m in msgs:
            items = m if isinstance(m, list) else [m]
            for it in items:
                assert isinstance(it, model), f"{name}: {type(it).__name__}"
                _no_unknown_fields(it, name)
                if hasattr(it, "k"):
                    _no_unknown_fields(it.k, name + " k")
    trades = [t.t for t in got["btcusdt@trade"]]
    assert trades == list(range(trades[0], trades[0] + len(trades))), "dense trade ids through the SDK"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, f"the SDK logged errors: {errors[:5]}"


def test_official_sdk_rest_market_endpoints(sim, trust):
    rest = Spot(config_rest_api=ConfigurationRestAPI(base_path=sim.rest_url, timeout=5000, https_agent=trust)).rest_api
    time.sleep(3)  # a few seconds of history (1 s klines, trades)
    assert rest.ping().data() == {} or rest.ping().data() is None
    assert abs(rest.time().data().server_time - time.time() * 1000) < 5000
    info = rest.exchange_info(symbols=list(SYMBOLS)).data()
    assert [s.symbol for s in info.symbols] == list(SYMBOLS) and all(s.status == "TRADING" for s in info.symbols)
    for s in info.symbols:
        _no_unknown_fields(s, "exchangeInfo symbol")
        for f in s.filters:
            _no_unknown_fields(f.actual_instance, "exchangeInfo filter")
    depth = rest.depth("BTCUSDT", limit=5).data()
    assert len(depth.bids) == 5 and float(depth.bids[0][0]) < float(depth.asks[0][0])
    recent = rest.get_trades("BTCUSDT", limit=5).data()
    hist = rest.historical_trades("BTCUSDT", limit=5, from_id=recent[0].id).data()
    assert [t.id for t in hist] == [t.id for t in recent]
    for t in hist:
        _no_unknown_fields(t, "historicalTrades row")
    aggs = rest.agg_trades("BTCUSDT", from_id=1, limit=5).data()
    assert [a.a for a in aggs] == [1, 2, 3, 4, 5]
    ranged = rest.agg_trades("BTCUSDT", start_time=aggs[0].T, end_time=aggs[-1].T).data()
    assert [a.a for a in ranged][:5] == [1, 2, 3, 4, 5]
    k = rest.klines("BTCUSDT", "1s", limit=2).data()
    assert len(k) == 2 and all(len(row) == 12 for row in k)
    assert rest.ui_klines("BTCUSDT", "1s", limit=2).data()[0][0] == k[0][0]
    one = rest.ticker24hr(symbol="BTCUSDT").data().actual_instance
    _no_unknown_fields(one, "ticker/24hr")
    assert one.symbol == "BTCUSDT" and one.count > 0
    mini = rest.ticker24hr(symbols=list(SYMBOLS), type="MINI").data().actual_instance
    assert [m.symbol for m in mini] == list(SYMBOLS)
    with pytest.raises(BadRequestError, match="Invalid symbol"):  # Binance's error code reaches the SDK
        rest.depth("NOPEUSDT")


def _ccxt(sim) -> ccxt.binance:
    ex = ccxt.binance({"timeout": 5000, "requests_trust_env": True,
                       "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}})
    # every spot REST base points at the simulator, every other API at a closed local port: nothing may try
    # to reach the internet (a call to an API the simulator does not serve fails at once, locally)
    for k, v in list(ex.urls["api"].items()):
        if isinstance(v, str) and v.startswith("https://api.binance.com"):
            ex.urls["api"][k] = v.replace("https://api.binance.com", sim.rest_url)
        elif isinstance(v, str):
            ex.urls["api"][k] = re.sub(r"^(https?|wss?)://[^/]+", "http://127.0.0.1:9", v)
    return ex


def test_ccxt_markets_trades_ohlcv_order_book(sim, trust):
    ex = _ccxt(sim)
    time.sleep(3)  # a few seconds of history (1 s klines, trades)
    markets = ex.load_markets()
    assert sorted(markets) == ["BTC/USDT", "ETH/USDT"]
    m = markets["BTC/USDT"]
    assert m["active"] and m["spot"] and m["precision"]["price"] == 0.01 and m["limits"]["cost"]["min"] == 5.0
    trades = ex.fetch_trades("BTC/USDT", limit=10)
    assert len(trades) == 10 and all(t["side"] in ("buy", "sell") and t["price"] > 0 for t in trades)
    assert [int(t["id"]) for t in trades] == list(range(int(trades[0]["id"]), int(trades[0]["id"]) + 10))
    ohlcv = ex.fetch_ohlcv("BTC/USDT", "1s", limit=2)
    assert len(ohlcv) == 2 and all(row[2] >= max(row[1], row[4]) and row[3] <= min(row[1], row[4]) for row in ohlcv)
    book = ex.fetch_order_book("BTC/USDT", limit=10)
    assert len(book["bids"]) == 10 and book["bids"][0][0] < book["asks"][0][0] and book["nonce"] > 0
    ticker = ex.fetch_ticker("BTC/USDT")
    assert ticker["last"] > 0 and ticker["bid"] < ticker["ask"]
    with pytest.raises(ccxt.BadSymbol):
        ex.fetch_order_book("NOPE/USDT")


def test_tls_is_verified_not_just_encrypted(sim, trust):
    import urllib.error
    import urllib.request

    if sim.tls is None:
        pytest.skip("plain variant")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(sim.rest_url + "/api/v3/ping", timeout=5, context=ssl.create_default_context())
    with urllib.request.urlopen(sim.rest_url + "/api/v3/ping", timeout=5, context=trust) as r:
        assert r.status == 200
