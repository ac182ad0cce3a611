"""Fan-out of market events to websocket connections.

Why: the hot path must serialise each event once.  For every stream we keep
the set of subscribed connections; when the market reports an event and the
stream has subscribers, the payload is serialised once per *variant* actually
needed (raw/combined x ms/µs), framed once, and the same bytes object is
appended to each subscriber's outbox.  Outboxes are flushed with one
``transport.write`` per connection per tick.
"""
from __future__ import annotations

from typing import Callable, Iterable

import orjson

from . import streams as S
from .market import SymbolMarket


def ws_text_frame(payload: bytes, opcode: int = 0x81) -> bytes:
    """Unmasked server->client frame (FIN + opcode)."""
    n = len(payload)
    if n < 126:
        return bytes((opcode, n)) + payload
    if n < 65536:
        return bytes((opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((opcode, 127)) + n.to_bytes(8, "big") + payload


class Subscriber:
    """What the publisher needs from a connection (see ws_server.Connection)."""

    variant: int  # bit0 = combined, bit1 = microseconds
    out: list[bytes]


class Publisher:
    """Implements market.Listener; owns the stream -> subscribers index."""

    def __init__(self, window_ms: int = 86_400_000) -> None:
        self.subs: dict[str, set] = {}
        self.window_ms = window_ms
        self._fmt: dict[str, S.Fmt] = {}
        self._names: dict[str, bytes] = {}
        self.delivered = 0
        self._arr: list = []

    # ----------------------------------------------------------- subscriptions
    def subscribe(self, conn, key: str) -> None:
        self.subs.setdefault(key, set()).add(conn)

    def unsubscribe(self, conn, key: str) -> None:
        s = self.subs.get(key)
        if s is not None:
            s.discard(conn)
            if not s:
                del self.subs[key]

    def drop(self, conn, keys: Iterable[str]) -> None:
        for k in list(keys):
            self.unsubscribe(conn, k)

    # -------------------------------------------------------------- framing
    def _name(self, name: str) -> bytes:
        b = self._names.get(name)
        if b is None:
            b = self._names[name] = orjson.dumps(name)
        return b

    def frame(self, name: str, build: Callable[[int], object], variant: int) -> bytes:
        payload = build(1000 if variant & 2 else 1)
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        if variant & 1:
            raw = b'{"stream":' + self._name(name) + b',"data":' + raw + b"}"
        return ws_text_frame(raw)

    def publish(self, name: str, build: Callable[[int], object]) -> None:
        """Deliver one event on stream ``name``; ``build(mult)`` makes the payload."""
        subs = self.subs.get(name)
        if not subs:
            return
        frames: list = [None, None, None, None]
        for c in subs:
            v = c.variant
            f = frames[v]
            if f is None:
                f = frames[v] = self.frame(name, build, v)
            c.out.append(f)
        self.delivered += len(subs)

    def fmt(self, m: SymbolMarket) -> S.Fmt:
        f = self._fmt.get(m.symbol)
        if f is None:
            sp = m.spec
            f = self._fmt[m.symbol] = S.Fmt(sp.tick_units, sp.step_units, sp.quote_mult)
        return f

    # ------------------------------------------------------ market.Listener
    def on_trades(self, m: SymbolMarket, trades: list, aggs: list, now: int) -> None:
        f, sym = self.fmt(m), m.symbol
        name = m.lower + "@trade"
        if name in self.subs:
            for t in trades:
                self.publish(name, lambda mult, t=t: S.trade(sym, f, t, now, mult))
        name = m.lower + "@aggTrade"
        if name in self.subs:
            for a in aggs:
                self.publish(name, lambda mult, a=a: S.agg_trade(sym, f, a, now, mult))

    def on_book_ticker(self, m: SymbolMarket, now: int) -> None:
        name = m.lower + "@bookTicker"
        if name in self.subs:
            payload = orjson.dumps(S.book_ticker(m.symbol, self.fmt(m), m.update_id, m.book_top()))
            self.publish(name, lambda mult: payload)

    def on_depth(self, m: SymbolMarket, speed: int, first: int, last: int, bids: dict, asks: dict, now: int) -> None:
        names = (m.lower + "@depth@100ms",) if speed == 100 else (m.lower + "@depth", m.lower + "@depth@1000ms")
        for name in names:
            if name in self.subs:
                f = self.fmt(m)
                self.publish(name, lambda mult: S.diff_depth(m.symbol, f, first, last, bids, asks, now, mult))

    def on_partial_depth(self, m: SymbolMarket, speed: int, now: int) -> None:
        suffixes = ("@100ms",) if speed == 100 else ("", "@1000ms")
        for n in (5, 10, 20):
            payload = None
            for suffix in suffixes:
                name = f"{m.lower}@depth{n}{suffix}"
                if name in self.subs:
                    if payload is None:
                        u, bids, asks = m.depth(n)
                        payload = orjson.dumps(S.partial_depth(self.fmt(m), u, bids, asks))
                    self.publish(name, lambda mult, p=payload: p)

    def on_kline(self, m: SymbolMarket, interval: str, tz: int, t: int, T: int, agg: list,
                 closed: bool, now: int) -> None:
        names = [f"{m.lower}@kline_{interval}"] if tz == 0 else []
        if tz or interval not in ("6h", "12h", "1d", "3d", "1w", "1M"):
            names.append(f"{m.lower}@kline_{interval}@+08:00")
        f = self.fmt(m)
        for name in names:
            if name in self.subs:
                self.publish(name, lambda mult: S.kline(m.symbol, f, interval, t, T, agg, closed, now, mult))

    def on_ticker(self, m: SymbolMarket, now: int) -> None:
        t_name, mt_name = m.lower + "@ticker", m.lower + "@miniTicker"
        want_arr = "!miniTicker@arr" in self.subs
        if t_name not in self.subs and mt_name not in self.subs and not want_arr:
            return
        f, st = self.fmt(m), m.ticker_stats(now)
        if t_name in self.subs:
            top, prev = m.book_top(), m.ticker.prev_price
            self.publish(t_name, lambda mult: S.ticker(m.symbol, f, st, prev, m.last_qty, top, now,
                                                       self.window_ms, mult))
        if mt_name in self.subs:
            self.publish(mt_name, lambda mult: S.mini_ticker(m.symbol, f, st, now, mult))
        if want_arr and m.sec_changed:
            self._arr.append((m.symbol, f, st))



    def on_second(self, now: int) -> None:
        arr, self._arr = self._arr, []
        if arr and "!miniTicker@arr" in self.subs:
            self.publish("!miniTicker@arr",
                         lambda mult: [S.mini_ticker(s, f, st, now, mult) for s, f, st in arr])
