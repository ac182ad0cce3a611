"""Raw Kafka envelopes (shared/envelope.py) -> the three independently guarded parts of a `latest_ticker`
row: last price (trade, 24hrTicker, 24hrMiniTicker), 24h statistics (24hrTicker, 24hrMiniTicker) and the
book top (bookTicker). Pure functions, no I/O.

A bad record raises BadRecord naming the field and value; the service counts and logs it and goes on."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson

from shared.envelope import F_EVENT_TIME, F_INGEST_TIME, F_PAYLOAD, F_SOURCE, F_SYMBOL, Source

SOURCES = frozenset(s.value for s in Source)
#: stream suffixes (message key = stream name) this consumer reads; everything else is skipped unparsed
STREAMS = (b"@trade", b"@ticker", b"@miniTicker", b"@bookTicker")


class BadRecord(ValueError):
    pass


@dataclass(frozen=True)
class PriceUpdate:
    symbol: str
    last_price: Decimal
    event_time_ms: int
    source: str


@dataclass(frozen=True)
class StatsUpdate:
    symbol: str
    price_change: Decimal
    price_change_pct: Decimal
    open_price: Decimal
    high_price: Decimal
    low_price: Decimal
    volume: Decimal
    quote_volume: Decimal
    event_time_ms: int
    source: str


@dataclass(frozen=True)
class BookUpdate:
    symbol: str
    best_bid: Decimal
    best_bid_qty: Decimal
    best_ask: Decimal
    best_ask_qty: Decimal
    update_id: int
    event_time_ms: int
    source: str


Update = PriceUpdate | StatsUpdate | BookUpdate


def wanted(key: bytes | None) -> bool:
    return key is not None and key.endswith(STREAMS)


def _dec(payload: dict, field: str) -> Decimal:
    raw = payload.get(field)
    try:
        value = Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        raise BadRecord(f"payload field {field!r} = {raw!r}: not a decimal") from None
    if not value.is_finite():
        raise BadRecord(f"payload field {field!r} = {raw!r}: not finite")
    return value


def _int(obj: dict, field: str) -> int:
    raw = obj.get(field)
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise BadRecord(f"field {field!r} = {raw!r}: not an integer")
    return raw


def parse(value: bytes) -> list[Update]:
    """The updates one envelope carries (a 24hrTicker gives a price and the stats)."""
    try:
        env = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"envelope is not JSON ({exc})") from None
    if not isinstance(env, dict) or not isinstance(env.get(F_PAYLOAD), dict):
        raise BadRecord("envelope is not an object with an object 'payload'")
    p, symbol, source = env[F_PAYLOAD], env.get(F_SYMBOL), env.get(F_SOURCE)
    if not isinstance(symbol, str) or not symbol:
        raise BadRecord(f"field 'symbol' = {symbol!r}")
    if source not in SOURCES:
        raise BadRecord(f"field 'source' = {source!r}: not one of {sorted(SOURCES)}")
    kind = p.get("e")
    if kind == "trade":
        return [PriceUpdate(symbol, _dec(p, "p"), _int(p, "E"), source)]
    if kind in ("24hrTicker", "24hrMiniTicker"):
        t = _int(p, "E")
        close, open_ = _dec(p, "c"), _dec(p, "o")
        if kind == "24hrTicker":
            change, pct = _dec(p, "p"), _dec(p, "P")
        else:  # the mini ticker has no change fields: derived exactly, the percentage to Binance's 3 places
            change = close - open_
            pct = (change / open_ * 100).quantize(Decimal("0.001")) if open_ else Decimal(0)
        return [PriceUpdate(symbol, close, t, source),
                StatsUpdate(symbol, change, pct, open_, _dec(p, "h"), _dec(p, "l"), _dec(p, "v"), _dec(p, "q"), t, source)]
    if "u" in p and "b" in p and "a" in p:  # bookTicker: no "e" and no event time; ordered by update id
        t = env.get(F_EVENT_TIME) or env.get(F_INGEST_TIME)
        if not isinstance(t, int):
            raise BadRecord(f"bookTicker without event or ingest time ({F_INGEST_TIME} = {t!r})")
        return [BookUpdate(symbol, _dec(p, "b"), _dec(p, "B"), _dec(p, "a"), _dec(p, "A"), _int(p, "u"), t, source)]
    raise BadRecord(f"payload event type {kind!r} is not a trade, ticker or bookTicker")


def newest(updates: list[Update]) -> list[Update]:
    """Per (symbol, kind) only the newest update of a batch (the database guard decides against stored rows)."""
    best: dict[tuple[str, type], Update] = {}
    for u in updates:
        k = (u.symbol, type(u))
        cur = best.get(k)
        if cur is None or _order(u) > _order(cur):
            best[k] = u
    return list(best.values())


def _order(u: Update) -> int:
    return u.update_id if isinstance(u, BookUpdate) else u.event_time_ms
