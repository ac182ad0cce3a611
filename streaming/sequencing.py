"""Per-stream gap detection and de-duplication (spec §4), as pure state machines without I/O.

Why a state machine that *holds* frames: the contract is "in order per stream, nothing missing, nothing
twice". When a trade id jumps, the live frames after the jump are held (not published) until the REST
backfill of the hole arrives, then backfilled and held records are merged by id, duplicates dropped, and
published in id order. So Kafka sees dense, strictly increasing ids per stream even across reconnects
and connection overlaps.

Items are opaque (the pipeline passes pre-built envelope bytes); the machines only look at sort keys.
``on_live`` returns a code instead of a list so the hot path allocates nothing.
"""
from __future__ import annotations

from typing import Any

PUBLISH, DUPLICATE, HELD, GAP = 0, 1, 2, 3

INTERVAL_MS = {"1s": 1000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
               "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
               "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000}  # 1M: variable


class Sequencer:
    """Base: counters shared by all kinds. ``gap`` is set when ``on_live`` returns GAP."""

    backfillable = False

    def __init__(self) -> None:
        self.duplicates = 0
        self.gaps_found = 0
        self.gaps_filled = 0
        self.missing_unfilled = 0  # ids (or bars) that REST could not provide
        self.gap: tuple[int, int] | None = None
        self.filling = False
        self.pending: list[tuple[Any, Any]] = []

    def resume(self, last: Any) -> None:  # noqa: B027 - optional
        """Start from a position read back from Kafka (service restart)."""


class IdSequencer(Sequencer):
    """Dense integer ids: trade ``t``, aggTrade ``a``. Gap = jump; duplicate = id <= last."""

    backfillable = True

    def __init__(self) -> None:
        super().__init__()
        self.last: int | None = None

    def resume(self, last: Any) -> None:
        if isinstance(last, int) and (self.last is None or last > self.last):
            self.last = last

    def on_live(self, i: int, item: Any) -> int:
        if self.filling:
            self.pending.append((i, item))
            return HELD
        last = self.last
        if last is None or i == last + 1:
            self.last = i
            return PUBLISH
        if i <= last:
            self.duplicates += 1
            return DUPLICATE
        self.gaps_found += 1
        self.filling = True
        self.pending = [(i, item)]
        self.gap = (last + 1, i - 1)
        return GAP

    def on_backfill(self, records: list[tuple[int, Any]], upto: int,
                    holes: Any = None) -> tuple[list[Any], tuple[int, int] | None]:
        """Merge REST ``records`` (covering ids up to ``upto``) with the held frames.

        Returns (items to publish in order, next gap or None). A hole at or below ``upto`` is one REST
        could not fill: it is skipped and counted — or, with ``holes`` (an IdRanges ledger), recorded there to
        be filled later. A hole above ``upto`` (frames lost again while we were filling) becomes the next gap
        and the rest stays held."""
        merged = sorted(records + self.pending, key=lambda r: r[0])
        out: list[Any] = []
        last = self.last if self.last is not None else merged[0][0] - 1 if merged else None
        rest: list[tuple[int, Any]] = []
        for n, (i, item) in enumerate(merged):
            if i <= last:
                self.duplicates += 1
                continue
            if i != last + 1:
                if i - 1 <= upto and holes is not None:
                    holes.add_range(last + 1, i - 1)
                elif i - 1 <= upto:
                    self.missing_unfilled += i - 1 - last
                else:
                    rest = merged[n:]
                    break
            out.append(item)
            last = i
        self.last = last
        if rest:
            self.pending = rest
            self.gap = (last + 1, rest[0][0] - 1)
            self.gaps_found += 1
            return out, self.gap
        self.gaps_filled += 1
        self.filling = False
        self.pending = []
        self.gap = None
        return out, None

    def abandon(self, holes: Any = None) -> list[Any]:
        """Publish what is held without waiting for REST any more (REST down, too much held, shutdown);
        the hole is counted, or recorded in ``holes`` (shutdown: refilled after the restart)."""
        return self.on_backfill([], upto=1 << 62, holes=holes)[0]


class KlineSequencer(Sequencer):
    """Klines of one (symbol, interval): key (open time t, event time E). Missing *closed* bars are a gap:
    a new open time arrives while the previous bar never got its ``x: true``, or bars were skipped."""

    backfillable = True

    def __init__(self, interval: str) -> None:
        super().__init__()
        self.iv = INTERVAL_MS.get(interval)
        self.last_t: int | None = None
        self.last_e = -1
        self.closed = False

    def resume(self, last: Any) -> None:
        if isinstance(last, tuple) and self.last_t is None:
            self.last_t, self.last_e, self.closed = last

    def on_live(self, key: tuple[int, int, bool], item: Any) -> int:
        t, e, x = key
        if self.filling:
            self.pending.append((key, item))
            return HELD
        lt = self.last_t
        if lt is None or (t == lt and e > self.last_e) or (t > lt and self.closed and (self.iv is None or t == lt + self.iv)):
            self.last_t, self.last_e, self.closed = t, e, x or (t == lt and self.closed)
            return PUBLISH
        if t < lt or (t == lt and e <= self.last_e):
            self.duplicates += 1
            return DUPLICATE
        # t > lt and (previous bar not closed or bars skipped): fetch closed bars opening in [from, t-1]
        self.gaps_found += 1
        self.filling = True
        self.pending = [(key, item)]
        self.gap = (lt if not self.closed else lt + (self.iv or 0), t - 1)
        return GAP

    def on_backfill(self, records: list[tuple[tuple[int, int, bool], Any]], upto: int) -> tuple[list[Any], None]:
        merged = sorted(records + self.pending, key=lambda r: (r[0][0], r[0][1]))
        out = []
        for (t, e, x), item in merged:
            if self.last_t is not None and (t < self.last_t or (t == self.last_t and e <= self.last_e)):
                self.duplicates += 1
                continue
            closed = x or (t == self.last_t and self.closed)
            self.last_t, self.last_e, self.closed = t, e, closed
            out.append(item)
        self.gaps_filled += 1
        self.filling, self.pending, self.gap = False, [], None
        return out, None

    def abandon(self) -> list[Any]:
        return self.on_backfill([], 0)[0]


class DiffDepthSequencer(Sequencer):
    """Diff depth ``U``/``u``: next U must be previous u + 1. A gap cannot be patched from REST deltas
    (spec §3.4): it is counted and the frame passes, consumers resync their book from a snapshot."""

    def __init__(self) -> None:
        super().__init__()
        self.last: int | None = None

    def on_live(self, key: tuple[int, int], item: Any) -> int:
        first, final = key
        last = self.last
        if last is not None:
            if final <= last:
                self.duplicates += 1
                return DUPLICATE
            if first > last + 1:
                self.gaps_found += 1
                self.missing_unfilled += first - last - 1
        self.last = final
        return PUBLISH


class MonotonicSequencer(Sequencer):
    """Partial depth ``lastUpdateId``, bookTicker ``u``, tickers ``E``: non-decreasing, not contiguous.
    Only duplicates (a repeat from an overlapping connection) are dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.last: int | None = None

    def on_live(self, key: int, item: Any) -> int:
        if self.last is not None and key <= self.last:
            self.duplicates += 1
            return DUPLICATE
        self.last = key
        return PUBLISH


def sequencer_for(stream_type: str) -> Sequencer:
    if stream_type in ("trade", "aggTrade"):
        return IdSequencer()
    if stream_type.startswith("kline_"):
        return KlineSequencer(stream_type[6:])
    if stream_type in ("depth", "depth@100ms"):
        return DiffDepthSequencer()
    return MonotonicSequencer()
