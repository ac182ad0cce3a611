"""Which ids of a dense-id table are committed: per symbol, sorted disjoint ranges ``[lo, hi]``.

Why: Binance trade ids (and aggregate trade ids) are dense per symbol, so the set of ids a table holds
is a handful of ranges (one, plus one more per gap not yet backfilled). Kept in each Hudi commit next to
the Kafka checkpoint, they make a replayed or duplicated trade detectable *before* the write, so these
tables are written with Hudi's ``insert`` (no index lookup, which opens every file of the day's
partition on every commit) and stay as idempotent as an upsert: an id already committed is dropped."""
from __future__ import annotations

import json
from collections.abc import Iterable

Ranges = dict[str, list[tuple[int, int]]]     # symbol -> sorted, disjoint, non-adjacent [lo, hi]


def merge(ranges: Ranges, ids: dict[str, Iterable[int]]) -> Ranges:
    """``ranges`` plus ``ids``, coalesced (adjacent ranges join: 1..5 and 6..9 become 1..9)."""
    out: Ranges = {s: list(r) for s, r in ranges.items()}
    for symbol, new in ids.items():
        spans = sorted([*out.get(symbol, []), *_spans(sorted(set(new)))])
        merged: list[tuple[int, int]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        if merged:
            out[symbol] = merged
    return out


def _spans(sorted_ids: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for i in sorted_ids:
        if spans and i == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    return spans


def overlapping(ranges: Ranges, symbol: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """The committed ranges of ``symbol`` that meet ``[lo, hi]`` (what a batch spanning it must be checked against)."""
    return [(a, b) for a, b in ranges.get(symbol, ()) if a <= hi and b >= lo]


def encode(ranges: Ranges) -> str:
    return json.dumps({"v": 1, "ranges": {s: [[lo, hi] for lo, hi in r] for s, r in sorted(ranges.items())}},
                      separators=(",", ":"))


def decode(text: str | None) -> Ranges | None:
    """None when the commit carries no ranges (a table written before they were kept: rebuild from it)."""
    if not text:
        return None
    return {s: [(int(lo), int(hi)) for lo, hi in r] for s, r in json.loads(text)["ranges"].items()}

