"""High-water marks of a table whose record key ends in a column that rises with time: per group (the
record key without that column), the largest value committed.

Why: tickers, depth, book ticker and the quarantine get a new key per event, and its last column rises
within the rest of the key (a symbol and kind's ticker event times, a symbol's book update ids, a Kafka
partition's offsets). Kept in each Hudi commit next to the Kafka checkpoint, the marks tell whether a batch
can meet a committed row at all: a batch wholly above its group's mark cannot, so it is written with
Hudi's ``insert`` (no index lookup, which reads the key range of every file of the day's partition on each
commit); a batch reaching back to or below a mark (a replay, a duplicate, a late event) is upserted as
before. Either way the table stays unique per key."""
from __future__ import annotations

import json

Group = tuple[str, ...]
Marks = dict[Group, int]      # group -> largest committed value of the rising key column


def group_of(values) -> Group:
    """The canonical (string) form of a group's key values, as stored in the commit."""
    return tuple(str(v) for v in values)


def all_above(marks: Marks, batch_min: Marks) -> bool:
    """True when every group of a batch starts above its committed mark (a group never committed is above)."""
    return all(lo > marks[g] for g, lo in batch_min.items() if g in marks)


def merge(marks: Marks, batch_max: Marks) -> Marks:
    """The marks after committing a batch whose per-group maxima are ``batch_max``."""
    out = dict(marks)
    for g, hi in batch_max.items():
        out[g] = max(hi, out.get(g, hi))
    return out


def encode(marks: Marks) -> str:
    return json.dumps({"v": 1, "marks": [[*g, hi] for g, hi in sorted(marks.items())]}, separators=(",", ":"))


def decode(text: str | None) -> Marks | None:
    """None when the commit carries no marks (a table written before they were kept: rebuild from it)."""
    if not text:
        return None
    return {group_of(m[:-1]): int(m[-1]) for m in json.loads(text)["marks"]}
