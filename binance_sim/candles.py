"""Kline and rolling-ticker aggregation from the simulator's own trades.

Aggregates are plain lists of integers (price ticks, quantity lots, quote
units of 1e-8) so that sums are exact; conversion to decimal strings happens
only when a payload is built.  The market feeds one aggregate per *second*;
every interval >= 1s is an exact union of whole seconds, so merging seconds
gives candles identical to aggregating the trades directly (tests check it).
"""
from __future__ import annotations

import calendar
from collections import deque
from datetime import datetime, timezone

# Aggregate layout: [o, h, l, c, v, q, V, Q, n, f, L]
O, H, LO, C, V, Q, TV, TQ, N, F, LAST = range(11)

_FIXED_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
    "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
    "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
    "3d": 259_200_000, "1w": 604_800_000,
}
_MONDAY_MS = 4 * 86_400_000  # 1970-01-05 was a Monday


def empty_agg(price: int) -> list[int]:
    """Aggregate of an interval without trades (o=h=l=c=previous close, f=L=-1)."""
    return [price, price, price, price, 0, 0, 0, 0, 0, -1, -1]


def merge(into: list[int], other: list[int]) -> None:
    """Fold ``other`` (a later period) into ``into`` in place."""
    if other[N] == 0:
        return
    if into[N] == 0:
        into[:] = other
        return
    if other[H] > into[H]:
        into[H] = other[H]
    if other[LO] < into[LO]:
        into[LO] = other[LO]
    into[C] = other[C]
    into[V] += other[V]
    into[Q] += other[Q]
    into[TV] += other[TV]
    into[TQ] += other[TQ]
    into[N] += other[N]
    into[LAST] = other[LAST]


def open_time(interval: str, ts_ms: int, offset_ms: int = 0) -> int:
    """Open time of the kline containing ``ts_ms``; ``offset_ms`` shifts the
    bucket boundaries (``+08:00`` streams, REST ``timeZone``)."""
    if interval == "1M":
        dt = datetime.fromtimestamp((ts_ms + offset_ms) / 1000, tz=timezone.utc)
        return calendar.timegm((dt.year, dt.month, 1, 0, 0, 0)) * 1000 - offset_ms
    length = _FIXED_MS[interval]
    anchor = _MONDAY_MS if interval == "1w" else 0
    return (ts_ms + offset_ms - anchor) // length * length + anchor - offset_ms


def close_time(interval: str, open_ms: int, offset_ms: int = 0) -> int:
    """Close time = next open - 1 ms."""
    if interval == "1M":
        dt = datetime.fromtimestamp((open_ms + offset_ms) / 1000, tz=timezone.utc)
        y, m = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000 - offset_ms - 1
    return open_ms + _FIXED_MS[interval] - 1


def interval_ms(interval: str) -> int:
    return _FIXED_MS.get(interval, 31 * 86_400_000)


class KlineSeries:
    """Current plus closed klines of one (symbol, interval, offset)."""

    __slots__ = ("interval", "offset", "cur_t", "cur_T", "cur", "closed", "keep")

    def __init__(self, interval: str, offset_ms: int = 0, keep: int = 3600) -> None:
        self.interval = interval
        self.offset = offset_ms
        self.cur_t = -1
        self.cur_T = -1
        self.cur: list[int] | None = None
        self.closed: deque[tuple[int, int, list[int]]] = deque(maxlen=max(2, keep))

    def add_second(self, sec_start: int, agg: list[int], last_price: int) -> tuple[int, int, list[int]] | None:
        """Merge one second; returns ``(t, T, agg)`` if that closed the kline."""
        if self.cur is None or sec_start > self.cur_T:
            self.cur_t = open_time(self.interval, sec_start, self.offset)
            self.cur_T = close_time(self.interval, self.cur_t, self.offset)
            self.cur = empty_agg(last_price)
        merge(self.cur, agg)
        if sec_start + 1000 > self.cur_T:
            done = (self.cur_t, self.cur_T, self.cur)
            self.closed.append(done)
            self.cur = None
            return done
        return None

    def current(self, partial: list[int] | None, last_price: int, now_ms: int) -> tuple[int, int, list[int]]:
        """The still-open kline including the partial current second."""
        if self.cur is None or now_ms > self.cur_T:
            t = open_time(self.interval, now_ms, self.offset)
            agg = empty_agg(last_price)
        else:
            t, agg = self.cur_t, list(self.cur)
        if partial is not None:
            merge(agg, partial)
        return t, close_time(self.interval, t, self.offset), agg


class RollingTicker:
    """Rolling-window statistics over per-second aggregates (24 h ticker).

    Sums are kept incrementally; high/low use monotonic deques so an update
    costs O(1) amortised, whatever the trade rate."""

    def __init__(self, window_ms: int, ref_price: int) -> None:
        self.window = window_ms
        self.buckets: deque[tuple[int, list[int]]] = deque()
        self.maxq: deque[tuple[int, int]] = deque()
        self.minq: deque[tuple[int, int]] = deque()
        self.v = self.q = self.n = 0
        self.prev_price = ref_price  # price of the last trade before the window

    def add(self, sec_start: int, agg: list[int]) -> None:
        if agg[N] == 0:
            return
        self.buckets.append((sec_start, agg))
        self.v += agg[V]
        self.q += agg[Q]
        self.n += agg[N]
        while self.maxq and self.maxq[-1][1] <= agg[H]:
            self.maxq.pop()
        self.maxq.append((sec_start, agg[H]))
        while self.minq and self.minq[-1][1] >= agg[LO]:
            self.minq.pop()
        self.minq.append((sec_start, agg[LO]))

    def evict(self, now_ms: int) -> None:
        lo = now_ms - self.window
        b = self.buckets
        while b and b[0][0] < lo:
            _, agg = b.popleft()
            self.v -= agg[V]
            self.q -= agg[Q]
            self.n -= agg[N]
            self.prev_price = agg[C]
        while self.maxq and self.maxq[0][0] < lo:
            self.maxq.popleft()
        while self.minq and self.minq[0][0] < lo:
            self.minq.popleft()

    def stats(self, now_ms: int, partial: list[int] | None, last_price: int) -> list[int]:
        """Window aggregate (same layout as a kline aggregate) at ``now_ms``."""
        self.evict(now_ms)
        if self.buckets:
            first = self.buckets[0][1]
            last = self.buckets[-1][1]
            agg = [first[O], self.maxq[0][1], self.minq[0][1], last[C], self.v, self.q, 0, 0,
                   self.n, first[F], last[LAST]]
        else:
            agg = empty_agg(last_price)
        if partial is not None:
            merge(agg, partial)
        return agg
