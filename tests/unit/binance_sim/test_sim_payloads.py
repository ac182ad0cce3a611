"""Every stream payload matches the spec field by field (names, order, JSON types)."""
import re

import pytest

from sim_unit_helpers import Harness, make_cfg

pytestmark = pytest.mark.unit

DEC = re.compile(r"^-?\d+\.\d{8}$")


def by_stream(msgs):
    out = {}
    for m in msgs:
        out.setdefault(m["stream"], []).append(m["data"])
    return out


def check(obj, schema):
    assert list(obj) == list(schema), f"keys {list(obj)} != {list(schema)}"
    for k, t in schema.items():
        v = obj[k]
        if t == "dec":
            assert isinstance(v, str) and DEC.match(v), (k, v)
        elif t is int:
            assert isinstance(v, int) and not isinstance(v, bool), (k, v)
        else:
            assert isinstance(v, t), (k, v)


TRADE = dict(e=str, E=int, s=str, t=int, p="dec", q="dec", T=int, m=bool, M=bool)
AGG = dict(e=str, E=int, s=str, a=int, p="dec", q="dec", f=int, l=int, T=int, m=bool, M=bool)
KLINE_K = dict(t=int, T=int, s=str, i=str, f=int, L=int, o="dec", c="dec", h="dec", l="dec", v="dec",
               n=int, x=bool, q="dec", V="dec", Q="dec", B=str)
TICKER = dict(e=str, E=int, s=str, p="dec", P=str, w="dec", x="dec", c="dec", Q="dec", b="dec", B="dec",
              a="dec", A="dec", o="dec", h="dec", l="dec", v="dec", q="dec", O=int, C=int, F=int, L=int, n=int)
MINI = dict(e=str, E=int, s=str, c="dec", o="dec", h="dec", l="dec", v="dec", q="dec")
BOOK = dict(u=int, s=str, b="dec", B="dec", a="dec", A="dec")
DIFF = dict(e=str, E=int, s=str, U=int, u=int, b=list, a=list)
PARTIAL = dict(lastUpdateId=int, bids=list, asks=list)


@pytest.fixture(scope="module")
def streams():
    h = Harness(make_cfg())
    return by_stream(h.run(4200))


def test_trade_payload(streams):
    for d in streams["btcusdt@trade"]:
        check(d, TRADE)
        assert d["e"] == "trade" and d["s"] == "BTCUSDT" and d["E"] >= d["T"]


def test_agg_trade_payload(streams):
    for d in streams["btcusdt@aggTrade"]:
        check(d, AGG)
        assert d["e"] == "aggTrade" and d["f"] <= d["l"]


def test_kline_payload(streams):
    ks = streams["btcusdt@kline_1s"]
    assert len(ks) >= 4
    for d in ks:
        check(d, dict(e=str, E=int, s=str, k=dict))
        check(d["k"], KLINE_K)
        k = d["k"]
        assert k["i"] == "1s" and k["x"] is True and k["B"] == "0"
        assert k["T"] == k["t"] + 999 and k["t"] % 1000 == 0 and d["E"] > k["T"]
    m1 = streams["btcusdt@kline_1m"]
    assert m1 and all(d["k"]["x"] is False and d["k"]["i"] == "1m" for d in m1)
    assert all(d["E"] % 2000 == 0 for d in m1)  # pushed every 2 s
    tz = streams["btcusdt@kline_1d@+08:00"]
    assert tz and all((d["k"]["t"] + 8 * 3600_000) % 86_400_000 == 0 for d in tz)


def test_ticker_payloads(streams):
    for d in streams["btcusdt@ticker"]:
        check(d, TICKER)
        assert d["e"] == "24hrTicker" and d["n"] == d["L"] - d["F"] + 1
        assert re.match(r"^-?\d+\.\d{3}$", d["P"])
    for d in streams["btcusdt@miniTicker"]:
        check(d, MINI)
        assert d["e"] == "24hrMiniTicker"
    arr = streams["!miniTicker@arr"]
    assert arr and all(isinstance(a, list) for a in arr)
    assert {x["s"] for a in arr for x in a} == {"BTCUSDT", "ETHUSDT"}
    for a in arr:
        for x in a:
            check(x, MINI)


def test_book_and_depth_payloads(streams):
    for d in streams["btcusdt@bookTicker"]:
        check(d, BOOK)
        assert d["b"] < d["a"] or float(d["b"]) < float(d["a"])
    for name in ("btcusdt@depth", "btcusdt@depth@100ms"):
        for d in streams[name]:
            check(d, DIFF)
            assert d["e"] == "depthUpdate" and d["U"] <= d["u"]
            for side in (d["b"], d["a"]):
                for lvl in side:
                    assert len(lvl) == 2 and all(DEC.match(x) for x in lvl)
    for name, n in (("btcusdt@depth5", 5), ("btcusdt@depth10@100ms", 10), ("btcusdt@depth20", 20)):
        snaps = streams[name]
        assert snaps
        for d in snaps:
            check(d, PARTIAL)
            assert len(d["bids"]) == n and len(d["asks"]) == n
            bids = [float(p) for p, _ in d["bids"]]
            asks = [float(p) for p, _ in d["asks"]]
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert len(streams["btcusdt@depth10@100ms"]) >= 5 * len(streams["btcusdt@depth5"])


def test_raw_variant_is_unwrapped():
    h = Harness(make_cfg(), streams=["btcusdt@trade"], variant=0)
    msgs = h.run(1000)
    assert msgs and all("stream" not in m and m["e"] == "trade" for m in msgs)


def test_microsecond_time_unit():
    ms = Harness(make_cfg(), streams=["btcusdt@trade", "btcusdt@kline_1s"], variant=0).run(2000)
    us = Harness(make_cfg(), streams=["btcusdt@trade", "btcusdt@kline_1s"], variant=2).run(2000)
    assert len(ms) == len(us) and ms
    for a, b in zip(ms, us):
        assert b["E"] == a["E"] * 1000
        if a["e"] == "trade":
            assert b["T"] == a["T"] * 1000 and b["t"] == a["t"]
        else:
            assert b["k"]["t"] == a["k"]["t"] * 1000
            assert b["k"]["T"] == (a["k"]["T"] + 1) * 1000 - 1
            assert b["k"]["f"] == a["k"]["f"]
