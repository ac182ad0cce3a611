"""What the bronze-writer service tells Dagster: runless asset events posted to the webserver's REST
endpoints (``/report_asset_materialization/``, ``/report_asset_check/``,
``/report_asset_observation/``).

Why runless events over REST: the writer is not a Dagster run, yet lineage, the asset pages, silver's
automation conditions and the check status in the UI all read asset events. The webserver records them in
the instance's event log exactly like events of a run; the writer needs neither Dagster's database
credentials for that nor the Dagster package (a lighter process). Events wait in a bounded backlog while
the webserver is down (a restart) and are sent in order when it answers again."""
from __future__ import annotations

import json
import logging
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from crypto_pipeline.bronze import checks
from crypto_pipeline.bronze.loop import Cycle
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, TRADES, bronze_path

log = logging.getLogger(__name__)

ENDPOINTS = {"materialization": "report_asset_materialization", "check": "report_asset_check",
             "observation": "report_asset_observation"}


class DagsterEvents:
    """Posts runless asset events to a Dagster webserver, in order; thread-safe."""

    def __init__(self, base_url: str, backlog: int = 2000, timeout_s: float = 10.0) -> None:
        self.base_url, self.timeout_s = base_url.rstrip("/"), timeout_s
        self.pending: deque[tuple[str, str, dict[str, Any]]] = deque(maxlen=backlog)  # oldest dropped when full
        self.sent = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def materialization(self, asset: str, metadata: dict[str, Any]) -> None:
        self._post("materialization", asset, {"metadata": metadata})

    def check(self, outcome: checks.Outcome) -> None:
        self._post("check", outcome.asset, {"check_name": outcome.check, "passed": outcome.passed,
                                            "severity": outcome.severity, "metadata": outcome.metadata})

    def observation(self, asset: str, metadata: dict[str, Any]) -> None:
        self._post("observation", asset, {"metadata": metadata})

    def _post(self, kind: str, asset: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.pending.append((kind, asset, body))
            self._drain()

    def flush(self) -> int:
        """Send what is pending; returns how many events still wait."""
        with self._lock:
            self._drain()
            return len(self.pending)

    def _drain(self) -> None:
        while self.pending:
            kind, asset, body = self.pending[0]
            req = urllib.request.Request(f"{self.base_url}/{ENDPOINTS[kind]}/{asset}",
                                         data=json.dumps(body, default=str).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    resp.read()
            except urllib.error.HTTPError as e:
                self.last_error = f"{kind} {asset}: HTTP {e.code} {e.read()[:300]!r}"
                if e.code >= 500:   # the webserver is starting or overloaded: keep it for later
                    return
                log.error("Dagster refused a runless event (dropped): %s", self.last_error)   # e.g. an unknown asset
            except (urllib.error.URLError, OSError) as e:   # webserver down or restarting: keep it for later
                self.last_error = f"{self.base_url}: {getattr(e, 'reason', e)}"
                return
            self.pending.popleft()
            self.sent += 1


@dataclass
class _TableWindow:
    rows: int = 0
    commits: int = 0
    duplicates_dropped: int = 0
    upserts: int = 0          # commits that needed Hudi's index lookup (the rest were plain inserts)
    jvm_parsed: int = 0       # commits whose rows the Java writer parsed from the raw records (no Spark query)
    write_s_max: float = 0.0
    freshness_ms: list[int] = field(default_factory=list)
    last_checkpoint: off.Offsets | None = None


class Reporter:
    """Aggregates cycles into one materialisation per written table every ``every_s`` (a per-cycle event
    would put ~100k events a day into the event log; a minute keeps the UI's history readable), and keeps
    what each table received for the next check evaluation (:meth:`take_written`).

    Thread-safe: the fast loop reports its cycles while the slow loop's check evaluation flushes (an
    unguarded flush iterated the window while a cycle added a table to it and failed the writer's cycle)."""

    def __init__(self, events: DagsterEvents, every_s: float, writer: str = "bronze-writer") -> None:
        self.events, self.every_s, self.writer = events, every_s, writer
        self.window: dict[str, _TableWindow] = {}
        self.cycles = 0
        self.fast_s: list[float] = []       # fast cycle durations in this window
        self.slow: list[str] = []           # slow cycles in this window: duration and the slowest writes
        self.clustering: list[str] = []     # clustering done in this window
        self.fast_max_phases = ""           # where the slowest fast cycle of the window spent its time
        self.opened = time.monotonic()
        self.last_line = ""
        self._written: dict[str, checks.Written] = {}
        self._lock = threading.Lock()

    def __call__(self, cycle: Cycle) -> None:
        with self._lock:
            self._add(cycle)
        if time.monotonic() - self.opened >= self.every_s:
            self.flush()

    def _add(self, cycle: Cycle) -> None:
        res = cycle.result
        self.cycles += 1
        if cycle.full:
            slowest = sorted(((t.write_s, n) for n, t in res.tables.items() if t.write_s), reverse=True)[:3]
            self.slow.append(f"{res.seconds:.1f}s [{res.phase_text()}]"
                             + (" (" + ", ".join(f"{n} {s:.1f}s" for s, n in slowest) + ")" if slowest else ""))
        else:
            if res.seconds > max(self.fast_s, default=0):
                self.fast_max_phases = res.phase_text()
            self.fast_s.append(res.seconds)
        self.clustering += [f"{c.table} {c.groups} group(s) {c.seconds:.1f}s" for c in cycle.clustering]
        fresh = cycle.freshness_ms
        for name, t in res.tables.items():
            self._written.setdefault(name, checks.Written()).add(
                t.rows, t.partitions, BRONZE_TABLES[name].partition, fresh.get(name) if name == TRADES.name else None)
        for name, t in res.tables.items():
            w = self.window.setdefault(name, _TableWindow())
            if t.rows or res.plan.changed(name):
                w.commits += 1
                w.rows += t.rows
                w.duplicates_dropped += t.duplicates_dropped
                w.upserts += not t.inserted
                w.jvm_parsed += t.parser == "jvm"
                w.write_s_max = max(w.write_s_max, t.write_s)
                w.last_checkpoint = res.plan.table_checkpoint[name]
            if name in fresh:
                w.freshness_ms.append(fresh[name])

    def take_written(self) -> dict[str, checks.Written]:
        """What each table received since the last call (the checks' scope), with the trades' latest lag."""
        with self._lock:
            out, self._written = self._written, {}
        return out

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if not self.cycles:
            return
        span = time.monotonic() - self.opened
        for name, w in self.window.items():
            if not w.commits:
                continue
            meta: dict[str, Any] = {"rows_written": w.rows, "commits": w.commits, "upsert_commits": w.upserts,
                                    "write_seconds_max": round(w.write_s_max, 2), "window_s": round(span, 1),
                                    "writer": self.writer, "path": bronze_path("<bucket>", name)}
            if w.freshness_ms:
                meta["freshness_at_commit_p50_ms"] = int(statistics.median(w.freshness_ms))
                meta["freshness_at_commit_max_ms"] = max(w.freshness_ms)
            if BRONZE_TABLES[name].dense_id:
                meta["duplicates_dropped"] = w.duplicates_dropped
                meta["commits_parsed_in_jvm"] = w.jvm_parsed
            if w.last_checkpoint is not None:
                meta["kafka_checkpoint"] = off.encode(w.last_checkpoint)
            self.events.materialization(BRONZE_TABLES[name].asset_name, meta)
        self.last_line = (
            f"bronze writer: {self.cycles} cycles in {span:.0f}s, fast p50 "
            f"{statistics.median(self.fast_s) if self.fast_s else 0:.1f}s max {max(self.fast_s, default=0):.1f}s"
            + (f" [{self.fast_max_phases}]" if self.fast_s else "") + ", slow "
            + (", ".join(self.slow) or "none")
            + ("; clustered " + ", ".join(self.clustering) if self.clustering else "") + "; rows "
            + ", ".join(f"{n}={w.rows}" for n, w in self.window.items() if w.rows)
            + "".join(f"; {n} commits parsed in the JVM {w.jvm_parsed}/{w.commits}"
                      for n, w in self.window.items() if w.jvm_parsed))
        log.info(self.last_line)
        self.window, self.cycles, self.fast_s, self.slow, self.clustering = {}, 0, [], [], []
        self.opened = time.monotonic()
