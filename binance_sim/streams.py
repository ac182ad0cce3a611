"""Stream names and payload builders (spec §1.3 and §2).

Builders return plain dicts in the exact key order and JSON types of the spec
(decimals as 8-decimal strings, ids/times as ints, flags as bools); the
publisher serialises each payload once with orjson.  ``mult`` is 1 for
milliseconds and 1000 for ``timeUnit=MICROSECOND``.
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from .candles import C, F, H, LAST, LO, N, O, Q, TQ, TV, V
from .config import KLINE_INTERVALS

_IV = "|".join(re.escape(i) for i in KLINE_INTERVALS)
_STREAM_RE = re.compile(
    r"^(?P<sym>[^@/!\s\"]{1,40})@(?P<kind>trade|aggTrade|bookTicker|miniTicker|avgPrice|referencePrice|blockTrade"
    r"|ticker(?:_(?:1h|4h|1d))?"
    r"|kline_(?:" + _IV + r")(?:@\+08:00)?"
    r"|depth(?:5|10|20)?(?:@100ms|@1000ms)?)$"
)
_ARR_RE = re.compile(r"^!(?:miniTicker|ticker|ticker_(?:1h|4h|1d))@arr$")


class StreamName(NamedTuple):
    """Parsed stream name; ``key`` is the canonical publish key."""

    name: str
    symbol: str  # upper case ("" for !...@arr)
    kind: str  # trade|aggTrade|kline|miniTicker|ticker|bookTicker|depthN|depth|silent|miniTickerArr
    arg: str = ""  # kline interval, depth levels
    tz: int = 0
    speed: int = 1000
    key: str = ""


def parse_stream(name: str) -> StreamName | None:
    """Return the parsed name or None when Binance would call it invalid.

    Well-formed names for unknown symbols (or upper-case symbols) are valid:
    Binance accepts them and never sends data (spec §1.7)."""
    if not isinstance(name, str):
        return None
    if _ARR_RE.match(name):
        kind = "miniTickerArr" if name == "!miniTicker@arr" else "silent"
        return StreamName(name, "", kind, key=name)
    m = _STREAM_RE.match(name)
    if not m:
        return None
    sym, kind = m.group("sym"), m.group("kind")
    # Upper-case symbols are accepted but never match a publish key.
    up = sym.upper() if sym == sym.lower() else "\x00" + sym
    if kind.startswith("kline_"):
        iv, _, tz = kind[6:].partition("@")
        tz_ms = 8 * 3_600_000 if tz else 0
        return StreamName(name, up, "kline", iv, tz_ms, key=f"{sym}@kline_{iv}" + ("@+08:00" if tz else ""))
    if kind.startswith("depth"):
        base, _, spd = kind.partition("@")
        speed = 100 if spd == "100ms" else 1000
        levels = base[5:]
        # "@1000ms" is its own publish key: the combined wrapper must echo the subscribed name (the official
        # SDK builds "@depth@1000ms" and routes frames by the "stream" field)
        canon = f"{sym}@{base}" + (f"@{spd}" if spd else "")
        return StreamName(name, up, "depthN" if levels else "depth", levels, 0, speed, canon)
    if kind in ("trade", "aggTrade", "bookTicker", "miniTicker", "ticker"):
        return StreamName(name, up, kind, key=name)
    return StreamName(name, up, "silent", key=name)


# --------------------------------------------------------------- decimals
def fmt(units: int) -> str:
    """Integer count of 1e-8 -> exact 8-decimal string ("117850.01000000")."""
    if units < 0:
        return "-" + fmt(-units)
    return f"{units // 100_000_000}.{units % 100_000_000:08d}"


def _q8(d: Decimal) -> str:
    return str(d.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP))


class Fmt:
    """Per-symbol converters from ticks/lots to decimal strings."""

    __slots__ = ("tu", "su", "qm")

    def __init__(self, tick_units: int, step_units: int, quote_mult: int) -> None:
        self.tu, self.su, self.qm = tick_units, step_units, quote_mult

    def p(self, ticks: int) -> str:
        return fmt(ticks * self.tu)

    def q(self, lots: int) -> str:
        return fmt(lots * self.su)

    def quote(self, units: int) -> str:  # already in 1e-8 units
        return fmt(units)


# --------------------------------------------------------------- payloads
def trade(sym: str, f: Fmt, t: tuple, E: int, mult: int = 1) -> dict:
    return {"e": "trade", "E": E * mult, "s": sym, "t": t[0], "p": f.p(t[1]), "q": f.q(t[2]),
            "T": t[3] * mult, "m": t[4], "M": True}


def agg_trade(sym: str, f: Fmt, a: tuple, E: int, mult: int = 1) -> dict:
    return {"e": "aggTrade", "E": E * mult, "s": sym, "a": a[0], "p": f.p(a[1]), "q": f.q(a[2]),
            "f": a[3], "l": a[4], "T": a[5] * mult, "m": a[6], "M": True}


def kline_k(sym: str, f: Fmt, iv: str, t: int, T: int, agg: list, closed: bool, mult: int = 1) -> dict:
    close_t = T * mult + (mult - 1)  # µs mode: next open - 1 µs
    return {"t": t * mult, "T": close_t, "s": sym, "i": iv, "f": agg[F], "L": agg[LAST],
            "o": f.p(agg[O]), "c": f.p(agg[C]), "h": f.p(agg[H]), "l": f.p(agg[LO]),
            "v": f.q(agg[V]), "n": agg[N], "x": closed, "q": fmt(agg[Q]),
            "V": f.q(agg[TV]), "Q": fmt(agg[TQ]), "B": "0"}


def kline(sym: str, f: Fmt, iv: str, t: int, T: int, agg: list, closed: bool, E: int, mult: int = 1) -> dict:
    return {"e": "kline", "E": E * mult, "s": sym, "k": kline_k(sym, f, iv, t, T, agg, closed, mult)}


def kline_row(f: Fmt, t: int, T: int, agg: list) -> list:
    """REST /klines 12-column row."""
    return [t, f.p(agg[O]), f.p(agg[H]), f.p(agg[LO]), f.p(agg[C]), f.q(agg[V]), T,
            fmt(agg[Q]), agg[N], f.q(agg[TV]), fmt(agg[TQ]), "0"]


def _ticker_core(f: Fmt, st: list, prev: int) -> dict:
    o, c = st[O], st[C]
    change = (c - o) * f.tu
    pct = Decimal(0) if o == 0 else (Decimal(c - o) * 100 / Decimal(o))
    w = Decimal(st[Q]) / (Decimal(st[V] * f.su)) if st[V] else Decimal(c * f.tu) / 100_000_000
    return {"p": fmt(change), "P": str(pct.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)),
            "w": _q8(w), "x": f.p(prev)}


def ticker(sym: str, f: Fmt, st: list, prev: int, last_qty: int, top: tuple, E: int,
           window_ms: int, mult: int = 1, event: bool = True) -> dict:
    """24hrTicker payload (``event=False`` gives the REST /ticker/24hr object)."""
    core = _ticker_core(f, st, prev)
    n = st[N]
    first, last = (st[F], st[LAST]) if n else (-1, -1)
    if event:
        return {"e": "24hrTicker", "E": E * mult, "s": sym, "p": core["p"], "P": core["P"], "w": core["w"],
                "x": core["x"], "c": f.p(st[C]), "Q": f.q(last_qty), "b": f.p(top[0]), "B": f.q(top[1]),
                "a": f.p(top[2]), "A": f.q(top[3]), "o": f.p(st[O]), "h": f.p(st[H]), "l": f.p(st[LO]),
                "v": f.q(st[V]), "q": fmt(st[Q]), "O": (E - window_ms) * mult, "C": E * mult,
                "F": first, "L": last, "n": n}
    return {"symbol": sym, "priceChange": core["p"], "priceChangePercent": core["P"],
            "weightedAvgPrice": core["w"], "prevClosePrice": core["x"], "lastPrice": f.p(st[C]),
            "lastQty": f.q(last_qty), "bidPrice": f.p(top[0]), "bidQty": f.q(top[1]),
            "askPrice": f.p(top[2]), "askQty": f.q(top[3]), "openPrice": f.p(st[O]),
            "highPrice": f.p(st[H]), "lowPrice": f.p(st[LO]), "volume": f.q(st[V]),
            "quoteVolume": fmt(st[Q]), "openTime": E - window_ms, "closeTime": E,
            "firstId": first, "lastId": last, "count": n}


def mini_ticker(sym: str, f: Fmt, st: list, E: int, mult: int = 1) -> dict:
    return {"e": "24hrMiniTicker", "E": E * mult, "s": sym, "c": f.p(st[C]), "o": f.p(st[O]),
            "h": f.p(st[H]), "l": f.p(st[LO]), "v": f.q(st[V]), "q": fmt(st[Q])}


def book_ticker(sym: str, f: Fmt, u: int, top: tuple) -> dict:
    return {"u": u, "s": sym, "b": f.p(top[0]), "B": f.q(top[1]), "a": f.p(top[2]), "A": f.q(top[3])}


def levels(f: Fmt, items) -> list[list[str]]:
    return [[f.p(p), f.q(q)] for p, q in items]


def partial_depth(f: Fmt, u: int, bids, asks) -> dict:
    return {"lastUpdateId": u, "bids": levels(f, bids), "asks": levels(f, asks)}


def diff_depth(sym: str, f: Fmt, U: int, u: int, bids: dict, asks: dict, E: int, mult: int = 1) -> dict:
    return {"e": "depthUpdate", "E": E * mult, "s": sym, "U": U, "u": u,
            "b": levels(f, sorted(bids.items(), reverse=True)), "a": levels(f, sorted(asks.items()))}


def rest_trade(f: Fmt, qm: int, t: tuple) -> dict:
    return {"id": t[0], "price": f.p(t[1]), "qty": f.q(t[2]), "quoteQty": fmt(t[1] * t[2] * qm),
            "time": t[3], "isBuyerMaker": t[4], "isBestMatch": True}


def rest_agg(f: Fmt, a: tuple) -> dict:
    return {"a": a[0], "p": f.p(a[1]), "q": f.q(a[2]), "f": a[3], "l": a[4], "T": a[5], "m": a[6], "M": True}
