"""Payload validation per stream type, fused with extraction of the sequencing key.

Why fused: the hot path must touch each field once. A checker returns the key the sequencer needs
(trade id, (U, u), ...) or raises :class:`Invalid` with a DLQ reason. Checks: the JSON types of the
spec (ids/times int, decimals str, flags bool), the symbol, impossible values (non-positive price or
quantity, event time too far in the future)."""
from __future__ import annotations

from typing import Any, Callable

# DLQ reasons (stable strings; dashboards group by them)
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
UNKNOWN_STREAM = "unknown_stream"
SCHEMA = "schema_violation"
IMPOSSIBLE = "impossible_value"
SYMBOL_MISMATCH = "symbol_mismatch"
OVERSIZED = "oversized_frame"


class Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


Checker = Callable[[dict, int], Any]


def _pos(d: dict, k: str) -> None:
    v = d[k]
    if type(v) is not str:
        raise Invalid(SCHEMA, f"field {k!r} must be a decimal string, got {type(v).__name__}")
    if not float(v) > 0:
        raise Invalid(IMPOSSIBLE, f"field {k!r} = {v!r} is not positive")


def _nonneg(d: dict, k: str) -> None:
    v = d[k]
    if type(v) is not str:
        raise Invalid(SCHEMA, f"field {k!r} must be a decimal string, got {type(v).__name__}")
    if float(v) < 0:
        raise Invalid(IMPOSSIBLE, f"field {k!r} = {v!r} is negative")


def _ints(d: dict, *keys: str) -> None:
    for k in keys:
        if type(d[k]) is not int:
            raise Invalid(SCHEMA, f"field {k!r} must be an integer, got {type(d[k]).__name__}")


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
            raise Invalid(SCHEMA, f"field {k!r} has a bad level {p!r}")
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
    return t


def _agg_slow(d: dict, limit: int, symbol: str) -> Any:
    """The field-by-field aggTrade check; the fast path falls back to it."""
    _times_symbol_price_qty(d, limit, symbol)
    _ints(d, "a", "f", "l")
    if d["f"] > d["l"]:
        raise Invalid(IMPOSSIBLE, f"aggTrade first id {d['f']} > last id {d['l']}")
    return d["a"]


def make_checker(stream_type: str, symbol: str, max_future_ms: int) -> Checker:
    """Return check(payload, now_ms) -> sequencing key (raises Invalid / KeyError / ValueError)."""

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
                        and type(p) is str and type(q) is str and float(p) > 0 and float(q) > 0
                        and type(i) is int and type(d["m"]) is bool):
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
                        and type(p) is str and type(q) is str and float(p) > 0 and float(q) > 0
                        and type(a) is int and type(f) is int and type(last) is int and f <= last):
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
            if float(k["h"]) < float(k["l"]):
                raise Invalid(IMPOSSIBLE, f"kline high {k['h']} < low {k['l']}")
            if type(k["x"]) is not bool:
                raise Invalid(SCHEMA, "field 'k.x' must be a boolean")
            return (k["t"], e, k["x"])
    elif stream_type in ("ticker", "miniTicker"):
        def check(d: dict, now: int) -> Any:
            e = _time(d, "E", now + max_future_ms)
            sym(d)
            _pos(d, "c")
            _nonneg(d, "v")
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
