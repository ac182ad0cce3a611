"""What Kafka has not confirmed: per-stream ranges of ids whose delivery failed, and the last id it did confirm.

Why: a record whose delivery report is an error (broker down longer than ``kafka.message_timeout_s``, a
permanent error) was already counted as published by the sequencer, which moved on. Each such id is put
here, so the hole is counted (``streaming_undelivered_pending``), logged, saved in the positions file, and
refilled by :mod:`streaming.redelivery` when Kafka is back — never forgotten.

Ids are kept as merged ``[lo, hi]`` ranges (failures come in runs: a broker outage fails every record of a
partition in order), so a long outage costs a few ints, not one entry per record. Klines use the open time
of a *closed* bar as the id (an open bar's update is superseded by the next one)."""
from __future__ import annotations

import bisect


class IdRanges:
    """Sorted, merged, inclusive integer ranges."""

    __slots__ = ("lo", "hi")

    def __init__(self, ranges: list[list[int]] | None = None) -> None:
        self.lo: list[int] = []
        self.hi: list[int] = []
        for lo, hi in ranges or ():
            self.add_range(lo, hi)

    def __len__(self) -> int:
        return sum(h - lo + 1 for lo, h in zip(self.lo, self.hi))

    def __bool__(self) -> bool:
        return bool(self.lo)

    def __contains__(self, i: int) -> bool:
        k = bisect.bisect_right(self.lo, i) - 1
        return k >= 0 and i <= self.hi[k]

    def add(self, i: int) -> None:
        if self.hi and i == self.hi[-1] + 1:  # the common case: the next id of a run
            self.hi[-1] = i
            return
        self.add_range(i, i)

    def add_range(self, lo: int, hi: int) -> None:
        if hi < lo:
            return
        k = bisect.bisect_left(self.hi, lo - 1)  # first range that ends at or after lo-1
        j = k
        while j < len(self.lo) and self.lo[j] <= hi + 1:
            lo, hi = min(lo, self.lo[j]), max(hi, self.hi[j])
            j += 1
        self.lo[k:j] = [lo]
        self.hi[k:j] = [hi]

    def remove_range(self, lo: int, hi: int) -> None:
        out: list[tuple[int, int]] = []
        for a, b in zip(self.lo, self.hi):
            if b < lo or a > hi:
                out.append((a, b))
                continue
            if a < lo:
                out.append((a, lo - 1))
            if b > hi:
                out.append((hi + 1, b))
        self.lo = [a for a, _ in out]
        self.hi = [b for _, b in out]

    def ranges(self) -> list[list[int]]:
        return [[a, b] for a, b in zip(self.lo, self.hi)]
