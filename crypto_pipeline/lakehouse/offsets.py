"""Which Kafka offsets one bronze run reads and which checkpoint each table commits (pure Python).

Each table keeps its own checkpoint (in its Hudi commits). A run reads Kafka once, from the lowest
checkpoint over all tables up to the current end (capped per partition), and hands each table only the
rows at or past its own checkpoint. So a run killed after some tables committed resumes each table
exactly where its last commit ended: no row is lost and none is applied twice."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

Offsets = dict[str, dict[int, int]]           # topic -> partition -> next offset to read
Watermarks = dict[str, dict[int, tuple[int, int]]]  # topic -> partition -> (low, high)


class RetentionLossError(RuntimeError):
    """Offsets that were never read are gone from Kafka (retention/compaction deleted them)."""

    def __init__(self, lost: list[dict]):
        self.lost = lost
        super().__init__("Kafka no longer holds offsets bronze never read (lost ranges [from, to)): "
                         + ", ".join(f"{r['topic']}[{r['partition']}] {r['from']}..{r['to']} ({r['to'] - r['from']} msgs)"
                                     for r in lost)
                         + ". Nothing was written. Recover the data (e.g. REST backfill/replay), or rerun with "
                           "config accept_data_loss=true to acknowledge the gap and continue from the earliest offset.")


class CheckpointAheadError(RuntimeError):
    """A checkpoint points past the end of the log: the topic was recreated or the checkpoint is foreign."""


def encode(offsets: Offsets) -> dict:
    return {"v": 1, "offsets": {t: {str(p): o for p, o in sorted(ps.items())} for t, ps in sorted(offsets.items())}}


def decode(checkpoint: dict | None) -> Offsets:
    if not checkpoint:
        return {}
    return {t: {int(p): int(o) for p, o in ps.items()} for t, ps in checkpoint.get("offsets", {}).items()}


@dataclass
class Plan:
    start: Offsets                                    # read from (inclusive)
    end: Offsets                                      # read to (exclusive)
    table_from: dict[str, Offsets]                    # per table, first offset it still needs
    table_checkpoint: dict[str, Offsets]              # per table, what its commit records
    lost: list[dict] = field(default_factory=list)    # acknowledged loss (accept_data_loss)
    previous: dict[str, Offsets] = field(default_factory=dict)  # checkpoints before this run
    left: int = 0                                     # records past ``end`` already in Kafka (a capped run)

    def changed(self, table: str) -> bool:
        return self.table_checkpoint[table] != self.previous.get(table)

    @property
    def total(self) -> int:
        return sum(self.end[t][p] - o for t, ps in self.start.items() for p, o in ps.items())

    def ranges(self) -> list[tuple[str, int, int, int]]:
        return [(t, p, o, self.end[t][p]) for t, ps in sorted(self.start.items()) for p, o in sorted(ps.items())]

    def kafka_json(self) -> tuple[str, str]:
        """startingOffsets / endingOffsets JSON for spark.read.format('kafka')."""
        enc = lambda offs: json.dumps({t: {str(p): o for p, o in ps.items()} for t, ps in offs.items()})  # noqa: E731
        return enc(self.start), enc(self.end)


def plan_run(watermarks: Watermarks, checkpoints: dict[str, Offsets], max_per_partition: int | None = None,
             accept_data_loss: bool = False, max_total: int | None = None) -> Plan:
    """Plan one run. ``checkpoints`` has an entry per table (empty dict = table new, read from offset 0).
    ``max_total`` bounds the records of the whole run: every partition's range is cut in proportion (the
    rest is read by the next runs)."""
    start: Offsets = {}
    end: Offsets = {}
    lost: list[dict] = []
    floor: dict[tuple[str, int], int] = {}
    for topic, parts in sorted(watermarks.items()):
        for p, (low, high) in sorted(parts.items()):
            froms = [c.get(topic, {}).get(p, 0) for c in checkpoints.values()] or [0]
            s = min(froms)
            if max(froms) > high:
                raise CheckpointAheadError(f"{topic}[{p}]: checkpoint {max(froms)} is past the log end {high} "
                                           "(topic recreated?); refusing to guess where to resume")
            if s < low:
                lost.append({"topic": topic, "partition": p, "from": s, "to": low})
                floor[(topic, p)] = low
                s = low
            e = high if max_per_partition is None else min(high, s + max_per_partition)
            start.setdefault(topic, {})[p] = s
            end.setdefault(topic, {})[p] = e
    if lost and not accept_data_loss:
        raise RetentionLossError(lost)
    if max_total is not None:
        end = _cap_total(start, end, max_total)
    table_from: dict[str, Offsets] = {}
    table_ckpt: dict[str, Offsets] = {}
    for table, ckpt in checkpoints.items():
        frm = {t: {p: max(ckpt.get(t, {}).get(p, 0), floor.get((t, p), 0)) for p in ps} for t, ps in start.items()}
        table_from[table] = frm
        new = {t: dict(ps) for t, ps in ckpt.items()}  # keep partitions this run did not see
        for t, ps in end.items():
            for p, e in ps.items():
                new.setdefault(t, {})[p] = max(frm[t][p], e)
        table_ckpt[table] = new
    left = sum(high - end[t][p] for t, parts in watermarks.items() for p, (_, high) in parts.items())
    return Plan(start, end, table_from, table_ckpt, lost, dict(checkpoints), left)


def _cap_total(start: Offsets, end: Offsets, max_total: int) -> Offsets:
    """``end`` moved back so that about ``max_total`` records lie between ``start`` and it, each partition's
    share in proportion to its backlog (at least one record of every partition with any)."""
    if max_total < 1:
        raise ValueError(f"max_total must be >= 1, got {max_total}")
    total = sum(e - start[t][p] for t, ps in end.items() for p, e in ps.items())
    if total <= max_total:
        return end
    scale = max_total / total
    return {t: {p: e if e == start[t][p] else start[t][p] + max(1, int((e - start[t][p]) * scale))
                for p, e in ps.items()} for t, ps in end.items()}
