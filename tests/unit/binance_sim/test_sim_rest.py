"""REST conformance (spec §3, §5): shapes, types, weights, errors, 429."""
import json
import re
import urllib.error
import urllib.request
from decimal import Decimal

import pytest

from binance_sim import ManualClock, run_in_thread
from sim_unit_helpers import START, make_cfg

pytestmark = pytest.mark.unit
DEC = re.compile(r"^-?\d+\.\d{8}$")


@pytest.fixture(scope="module")
def sim():
    clock = ManualClock(START + 30_000)
    h = run_in_thread(make_cfg(weight_limit_1m=6000), clock=clock)

    def advance(ms):
        def _adv():
            for _ in range(ms // 100):
                clock.advance(100)
                h.server.market.advance(clock.now_ms())
        h.call(_adv)
    advance(20_000)
    h.advance = advance
    h.clock = clock
    yield h
    h.stop()


def get(h, path):
    try:
        with urllib.request.urlopen(h.rest_url + path, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def test_ping_time_and_weight_header(sim):
    sim.clock.set(START + 60_000 * 5)  # fresh minute window
    s, hd, b = get(sim, "/api/v3/ping")
    assert (s, b, hd["X-MBX-USED-WEIGHT-1M"]) == (200, {}, "1")
    s, hd, b = get(sim, "/api/v3/time")
    assert b == {"serverTime": sim.clock.now_ms()} and hd["X-MBX-USED-WEIGHT-1M"] == "2"
    s, hd, b = get(sim, "/api/v3/exchangeInfo")
    assert hd["X-MBX-USED-WEIGHT-1M"] == "22"


def test_exchange_info(sim):
    s, _, b = get(sim, "/api/v3/exchangeInfo?symbol=BTCUSDT")
    assert s == 200 and b["timezone"] == "UTC"
    assert b["rateLimits"][0] == {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
    sym = b["symbols"][0]
    assert (sym["symbol"], sym["status"], sym["baseAsset"], sym["quoteAsset"]) == ("BTCUSDT", "TRADING", "BTC", "USDT")
    f = {x["filterType"]: x for x in sym["filters"]}
    assert f["PRICE_FILTER"]["tickSize"] == "0.01000000" and f["LOT_SIZE"]["stepSize"] == "0.00001000"
    s, _, b = get(sim, '/api/v3/exchangeInfo?symbols=["BTCUSDT","ETHUSDT"]'.replace('"', "%22"))
    assert [x["symbol"] for x in b["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    assert get(sim, "/api/v3/exchangeInfo?symbol=FOOBAR")[2] == {"code": -1121, "msg": "Invalid symbol."}


def test_depth(sim):
    s, hd, b = get(sim, "/api/v3/depth?symbol=BTCUSDT&limit=10")
    assert s == 200 and list(b) == ["lastUpdateId", "bids", "asks"] and len(b["bids"]) == 10
    assert all(DEC.match(p) and DEC.match(q) for p, q in b["bids"] + b["asks"])
    assert Decimal(b["bids"][0][0]) < Decimal(b["asks"][0][0])
    assert b["lastUpdateId"] == sim.server.market.symbols["BTCUSDT"].update_id
    before = int(hd["X-MBX-USED-WEIGHT-1M"])
    _, hd, _ = get(sim, "/api/v3/depth?symbol=BTCUSDT&limit=1000")
    assert int(hd["X-MBX-USED-WEIGHT-1M"]) - before == 50


def test_trades_and_historical_trades_fill_gaps_exactly(sim):
    s, _, recent = get(sim, "/api/v3/trades?symbol=BTCUSDT&limit=5")
    assert s == 200 and len(recent) == 5
    for t in recent:
        assert list(t) == ["id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"]
        assert DEC.match(t["price"]) and DEC.match(t["qty"]) and isinstance(t["isBuyerMaker"], bool)
        assert Decimal(t["quoteQty"]) == Decimal(t["price"]) * Decimal(t["qty"])
    assert [t["id"] for t in recent] == list(range(recent[0]["id"], recent[0]["id"] + 5))
    last = recent[-1]["id"]
    _, _, hist = get(sim, f"/api/v3/historicalTrades?symbol=BTCUSDT&fromId={last - 100}&limit=50")
    assert [t["id"] for t in hist] == list(range(last - 100, last - 50))
    market = sim.server.market.symbols["BTCUSDT"]
    assert hist[0]["price"] == f"{Decimal(market.trades_from(last - 100, 1)[0][1]) / 100:.8f}"


def test_agg_trades_rules(sim):
    _, _, recent = get(sim, "/api/v3/aggTrades?symbol=BTCUSDT&limit=3")
    assert len(recent) == 3 and list(recent[0]) == ["a", "p", "q", "f", "l", "T", "m", "M"]
    a0 = recent[0]["a"]
    _, _, frm = get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&fromId={a0 - 10}&limit=5")
    assert [x["a"] for x in frm] == list(range(a0 - 10, a0 - 5))
    t_end = recent[-1]["T"]
    _, _, rng = get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&startTime={t_end - 2000}&endTime={t_end}&limit=1000")
    assert rng and all(t_end - 2000 <= x["T"] <= t_end for x in rng) and rng[-1]["a"] >= recent[-1]["a"]
    _, _, only_end = get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&endTime={t_end - 1000}&limit=2")
    assert len(only_end) == 2 and all(x["T"] <= t_end - 1000 for x in only_end)
    s, _, b = get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&fromId=1&startTime={t_end}")
    assert s == 400 and b["code"] == -1128


def test_klines(sim):
    s, _, rows = get(sim, "/api/v3/klines?symbol=BTCUSDT&interval=1s&limit=5")
    assert s == 200 and len(rows) == 5
    for r in rows:
        assert len(r) == 12 and isinstance(r[0], int) and isinstance(r[6], int) and isinstance(r[8], int)
        assert all(DEC.match(r[i]) for i in (1, 2, 3, 4, 5, 7, 9, 10)) and r[11] == "0"
        assert r[6] == r[0] + 999
    start = rows[0][0]
    _, _, rows2 = get(sim, f"/api/v3/klines?symbol=BTCUSDT&interval=1s&startTime={start + 1}&limit=2")
    assert rows2[0][0] == start + 1000  # not on a boundary -> next kline
    # closed 1s klines agree with the trades REST returns
    t0 = rows[0][0]
    _, _, aggs = get(sim, f"/api/v3/aggTrades?symbol=BTCUSDT&startTime={t0}&endTime={t0 + 999}&limit=1000")
    assert sum(Decimal(a["q"]) for a in aggs) == Decimal(rows[0][5])
    assert get(sim, "/api/v3/klines?symbol=BTCUSDT&interval=2d")[2] == {"code": -1120, "msg": "Invalid interval."}
    assert get(sim, "/api/v3/klines?symbol=BTCUSDT")[2]["code"] == -1102


def test_ticker_24hr(sim):
    s, _, t = get(sim, "/api/v3/ticker/24hr?symbol=BTCUSDT")
    assert s == 200 and t["symbol"] == "BTCUSDT" and t["count"] == t["lastId"] - t["firstId"] + 1
    for k in ("priceChange", "weightedAvgPrice", "lastPrice", "bidPrice", "askPrice", "volume", "quoteVolume"):
        assert DEC.match(t[k]), k
    s, _, all_ = get(sim, "/api/v3/ticker/24hr")
    assert [x["symbol"] for x in all_] == ["BTCUSDT", "ETHUSDT"]


@pytest.mark.parametrize("path,code", [
    ("/api/v3/trades", -1102),
    ("/api/v3/trades?symbol=", -1105),
    ("/api/v3/trades?symbol=btcusdt", -1100),
    ("/api/v3/trades?symbol=NOPEUSDT", -1121),
    ("/api/v3/trades?symbol=BTCUSDT&limit=abc", -1100),
    ("/api/v3/trades?symbol=BTCUSDT&limit=0", -1130),
    ("/api/v3/trades?symbol=BTCUSDT&foo=1", -1104),
    ("/api/v3/ticker/24hr?symbol=BTCUSDT&type=BAD", -1130),
])
def test_error_bodies(sim, path, code):
    s, hd, b = get(sim, path)
    assert s == 400 and set(b) == {"code", "msg"} and b["code"] == code and isinstance(b["msg"], str)
    assert "X-MBX-USED-WEIGHT-1M" in hd


def test_429_with_retry_after_past_the_limit(sim):
    sim.server.limiter.limit = 100
    try:
        sim.clock.set(START + 60_000 * 10 + 15_000)
        codes = [get(sim, "/api/v3/trades?symbol=BTCUSDT&limit=1")[0] for _ in range(4)]
        assert codes == [200, 200, 200, 200]
        s, hd, b = get(sim, "/api/v3/trades?symbol=BTCUSDT&limit=1")
        assert s == 429 and b["code"] == -1003 and hd["Retry-After"] == "45"
        assert hd["X-MBX-USED-WEIGHT-1M"] == "125"
        sim.clock.set(START + 60_000 * 11)
        assert get(sim, "/api/v3/ping")[0] == 200
    finally:
        sim.server.limiter.limit = 6000
