"""Payload validation per stream type, fused with extraction of the sequencing key.

Why fused: the hot path must touch each field once. A checker returns the key the sequencer needs
(trade id, (U, u), ...) or raises :class:`Invalid` with a DLQ reason. Checks: the JSON types of the
spec (ids/times int, decimals str, flags bool), the symbol, impossible values (non-positive price or
quantity, event time too far in the future). Decimal strings follow the one grammar of shared/decimals.py, the
same bronze applies (what this service publishes bronze must accept, or the trade ids get holes); ids fit a
signed 64-bit long and are not negative (bronze's LongType)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

from shared.decimals import LONG_LIMIT, QUOTE_LIMIT, match_decimal

# DLQ reasons (stable strings; dashboards group by them)
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
UNKNOWN_STREAM = "unknown_stream"
SCHEMA = "schema_violation"
IMPOSSIBLE = "impossible_value"
SYMBOL_MISMATCH = "symbol_mismatch"
OVERSIZED = "oversized_frame"
BAD_DECIMAL = "bad_decimal"


class Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


Checker = Callable[[dict, int], Any]


def _decimal(d: dict, k: str) -> str:
    v = d[k]
    if type(v) is not str:
        raise Invalid(SCHEMA, f"field {k!r} must be a decimal string, got {type(v).__name__}")
    if match_decimal(v) is None:
        raise Invalid(BAD_DECIMAL, f"field {k!r} = {v[:40]!r} is not a decimal string (shared/decimals.py)")
    return v


def _optional_decimals(d: dict, *keys: str) -> None:
    """Keys bronze parses when present (a missing key or null is fine there, so here too)."""
    for k in keys:
        if d.get(k) is not None:
            _decimal(d, k)


def _pos(d: dict, k: str) -> None:
    if not float(_decimal(d, k)) > 0:
        raise Invalid(IMPOSSIBLE, f"field {k!r} = {d[k]!r} is not positive")


def _nonneg(d: dict, k: str) -> None:
    if float(_decimal(d, k)) < 0:
        raise Invalid(IMPOSSIBLE, f"field {k!r} = {d[k]!r} is negative")


def _ints(d: dict, *keys: str) -> None:
    for k in keys:
        if type(d[k]) is not int:
            raise Invalid(SCHEMA, f"field {k!r} must be an integer, got {type(d[k]).__name__}")
        if not 0 <= d[k] < LONG_LIMIT:
            raise Invalid(IMPOSSIBLE, f"field {k!r} = {d[k]} is outside [0, 2^63)")


def _quote_fits(p: str, q: str) -> bool:
    """price × quantity fits bronze's DECIMAL(38,18); exact arithmetic only for the rare large product."""
    return float(p) * float(q) < 1e19 or Decimal(p) * Decimal(q) < QUOTE_LIMIT


def _time(d: dict, k: str, limit: int) -> int:
    v = d[k]
    if type(v) is not int:
        raise Invalid(SCHEMA, f"field {k!r} must be an integer, got {type(v).__name__}")
    if v > limit:
        raise Invalid(IMPOSSIBLE, f"field {k!r} = {v} is in the future (limit {limit})")
    if v <= 0:
        raise Invalid(IMPOSSIBLE, f"field {k!r} = {v} is not a valid time")
    return v


def _levels(d: dict, k: str) -> None:
    lv = d[k]
    if type(lv) is not list:
        raise Invalid(SCHEMA, f"field {k!r} must be a list of [price, qty]")
    for p in lv:
        if type(p) is not list or len(p) != 2 or type(p[0]) is not str or type(p[1]) is not str:
            raise Invalid(SCHEMA, f"field {k!r} has a bad level {p!r}"[:200])
        if match_decimal(p[0]) is None or match_decimal(p[1]) is None:
            raise Invalid(BAD_DECIMAL, f"field {k!r} has a level that is not decimal strings {p!r}"[:200])
        if not float(p[0]) > 0 or float(p[1]) < 0:
            raise Invalid(IMPOSSIBLE, f"field {k!r} has an impossible level {p!r}")


def _times_symbol_price_qty(d: dict, limit: int, symbol: str) -> None:
    """What trades and aggTrades share, in the order the reasons are reported."""
    _time(d, "E", limit)
    _time(d, "T", limit)
    if d["s"] != symbol:
        raise Invalid(SYMBOL_MISMATCH, f"payload symbol {d['s']!r} != {symbol!r}")
    _pos(d, "p")
    _pos(d, "q")


def _trade_slow(d: dict, limit: int, symbol: str) -> Any:
    """The field-by-field trade check (error reasons and their order); the fast path falls back to it."""
    _times_symbol_price_qty(d, limit, symbol)
    t = d["t"]
    if type(t) is not int or type(d["m"]) is not bool:
        raise Invalid(SCHEMA, "trade id 't' must be an integer and 'm' a boolean")
    _ints(d, "t")
    if not _quote_fits(d["p"], d["q"]):
        raise Invalid(IMPOSSIBLE, f"quote quantity {d['p']} x {d['q']} does not fit DECIMAL(38,18)")
    return t


def _agg_slow(d: dict, limit: int, symbol: str) -> Any:
    """The field-by-field aggTrade check; the fast path falls back to it."""
    _times_symbol_price_qty(d, limit, symbol)
    _ints(d, "a", "f", "l")
    if d["f"] > d["l"]:
        raise Invalid(IMPOSSIBLE, f"aggTrade first id {d['f']} > last id {d['l']}")
    return d["a"]


# every decimal a 24h/mini ticker may carry (bronze parses each one that is present)
TICKER_DECIMALS = ("p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q")


def make_checker(stream_type: str, symbol: str, max_future_ms: int) -> Checker:
    """Return check(payload, now_ms) -> sequencing key (raises Invalid / KeyError / ValueError)."""

    dec = match_decimal

    def sym(d: dict) -> None:
        if d["s"] != symbol:
            raise Invalid(SYMBOL_MISMATCH, f"payload symbol {d['s']!r} != {symbol!r}")

    # trade and aggTrade are the bulk of the traffic: a fast path checks everything inline (no helper calls);
    # anything it does not accept is re-checked field by field by the original sequence, which raises the
    # same reason and detail as always (so the fast path only decides "valid", never the error message).
    if stream_type == "trade":
        def check(d: dict, now: int) -> Any:
            lim = now + max_future_ms
            try:
                e, t, p, q, i = d["E"], d["T"], d["p"], d["q"], d["t"]
                if (type(e) is int and type(t) is int and 0 < e <= lim and 0 < t <= lim and d["s"] == symbol
                        and type(p) is str and type(q) is str and dec(p) and dec(q) and float(p) > 0 and float(q) > 0
                        and type(i) is int and 0 <= i < LONG_LIMIT and type(d["m"]) is bool and _quote_fits(p, q)):
                    return i
            except (KeyError, TypeError, ValueError):
                pass
            return _trade_slow(d, lim, symbol)
    elif stream_type == "aggTrade":
        def check(d: dict, now: int) -> Any:
            lim = now + max_future_ms
            try:
                e, t, p, q, a, f, last = d["E"], d["T"], d["p"], d["q"], d["a"], d["f"], d["l"]
                if (type(e) is int and type(t) is int and 0 < e <= lim and 0 < t <= lim and d["s"] == symbol
                        and type(p) is str and type(q) is str and dec(p) and dec(q) and float(p) > 0 and float(q) > 0
                        and type(a) is int and type(f) is int and type(last) is int and 0 <= f <= last < LONG_LIMIT
                        and 0 <= a < LONG_LIMIT):
                    return a
            except (KeyError, TypeError, ValueError):
                pass
            return _agg_slow(d, lim, symbol)
    elif stream_type.startswith("kline_"):
        interval = stream_type[6:]

        def check(d: dict, now: int) -> Any:
            e = _time(d, "E", now + max_future_ms)
            sym(d)
            k = d["k"]
            if type(k) is not dict:
                raise Invalid(SCHEMA, "field 'k' must be an object")
            _ints(k, "t", "T")
            if k["i"] != interval:
                raise Invalid(SCHEMA, f"kline interval {k['i']!r} != {interval!r}")
            for f in ("o", "h", "l", "c"):
                _pos(k, f)
            _nonneg(k, "v")
            _optional_decimals(k, "q", "V", "Q")
            if float(k["h"]) < float(k["l"]):
                raise Invalid(IMPOSSIBLE, f"kline high {k['h']} < low {k['l']}")
            if type(k["x"]) is not bool:
                raise Invalid(SCHEMA, "field 'k.x' must be a boolean")
            return (k["t"], e, k["x"])
    elif stream_type in ("ticker", "miniTicker"):
        def check(d: dict, now: int) -> Any:
            e = _time(d, "E", now + max_future_ms)
            sym(d)
            _optional_decimals(d, *TICKER_DECIMALS)
            _pos(d, "c")
            _pos(d, "o")
            _nonneg(d, "v")
            if float(_decimal(d, "h")) < float(_decimal(d, "l")):
                raise Invalid(IMPOSSIBLE, f"ticker high {d['h']} < low {d['l']}")
            return e
    elif stream_type == "bookTicker":
        def check(d: dict, now: int) -> Any:
            sym(d)
            _ints(d, "u")
            for f in ("b", "B", "a", "A"):
                _nonneg(d, f)
            return d["u"]
    elif stream_type in ("depth", "depth@100ms"):
        def check(d: dict, now: int) -> Any:
            _time(d, "E", now + max_future_ms)
            sym(d)
            _ints(d, "U", "u")
            if d["U"] > d["u"]:
                raise Invalid(IMPOSSIBLE, f"depth U {d['U']} > u {d['u']}")
            _levels(d, "b")
            _levels(d, "a")
            return (d["U"], d["u"])
    elif stream_type.startswith("depth"):
        def check(d: dict, now: int) -> Any:
            _ints(d, "lastUpdateId")
            _levels(d, "bids")
            _levels(d, "asks")
            return d["lastUpdateId"]
    else:  # pragma: no cover - symbols.yaml validation prevents it
        raise ValueError(f"no checker for stream type {stream_type!r}")
    return check


def run_check(check: Checker, payload: Any, now_ms: int) -> Any:
    """Apply a checker, turning every failure into Invalid (missing key, wrong type, bad decimal)."""
    if type(payload) is not dict:
        raise Invalid(SCHEMA, f"payload must be an object, got {type(payload).__name__}")
    try:
        return check(payload, now_ms)
    except Invalid:
        raise
    except KeyError as e:
        raise Invalid(SCHEMA, f"missing field {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise Invalid(SCHEMA, f"bad value: {e}") from None
