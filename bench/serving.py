"""Serving freshness in a running stack: silver commit -> row in PostgreSQL, exchange event -> latest_ticker
row, and the serving-ticker service's CPU and memory (the streaming service in the same window as the
reference).

    ./deploy.sh                                  # the stack runs by itself
    .venv/bin/python bench/serving.py --minutes 15

* serving lag: every silver ohlcv/indicators commit completed in the window (Hudi timeline on S3: the
  ``<requested>_<completed>.commit`` names) against the `sync_state` rows polled every second: lag = the
  first sync that consumed a completion time >= the commit's (its synced_at) - the commit's completion.
  Goal p95 < 60 s.
* latest_ticker lag: every `serving_ticker` notification (LISTEN as the read-only role) whose last price
  moved: updated_at (set by the database at the upsert) - the exchange event time. Goal p95 < 1 s.
Reads only; asserts nothing."""
from __future__ import annotations

import argparse
import json
import re
import select
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMMIT = re.compile(r"^(\d{17})_(\d{17})\.(commit|replacecommit)$")
SILVER = {"candles": "silver/ohlcv", "candles:indicators": "silver/indicators"}


def instant_ms(stamp: str) -> int:
    """Hudi instant times are local wall-clock yyyyMMddHHmmssSSS (hoodie.table.timeline.timezone=LOCAL)."""
    return int(datetime.strptime(stamp, "%Y%m%d%H%M%S%f").timestamp() * 1000)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def summary(name: str, values: list[float], unit: str = "s") -> str:
    if not values:
        return f"{name:<26} n=0"
    return (f"{name:<26} n={len(values):<6} p50={pct(values, .5):.3f}{unit} p95={pct(values, .95):.3f}{unit} "
            f"p99={pct(values, .99):.3f}{unit} max={max(values):.3f}{unit}")


def find_process(needle: str, var_dir: str) -> psutil.Process | None:
    """The stack's process (several stacks may run on one machine: match its CDP_VAR_DIR too)."""
    for p in psutil.process_iter(["cmdline", "environ"]):
        try:
            if needle in " ".join(p.info["cmdline"] or []) and (p.info["environ"] or {}).get("CDP_VAR_DIR") == var_dir:
                return p
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=15, help="observation window (starts now)")
    a = ap.parse_args()

    from infra.credentials import load_credentials
    from infra.layout import Layout
    from infra.provision import minio_client
    from serving.db import READER_ROLE, ServingDsn
    from shared.settings import load_stack_settings

    settings, creds = load_stack_settings(), load_credentials(Layout().env_file)
    reader = ServingDsn(settings.bind_host, settings.postgres.port, settings.postgres.serving_db, READER_ROLE,
                        creds.serving_reader_password)
    client, bucket = minio_client(settings, creds), settings.minio.bucket
    var_dir = str(Layout().var)
    procs = {n: find_process(k, var_dir) for n, k in (("serving-ticker", "serving.ticker_service"),
                                                       ("streaming", "-m streaming"))}
    cpu0 = {n: p.cpu_times() for n, p in procs.items() if p}
    rss: dict[str, list[int]] = {n: [] for n in procs}

    start_ms, end = int(time.time() * 1000), time.monotonic() + a.minutes * 60
    syncs: dict[str, list[tuple[int, int]]] = {k: [] for k in SILVER}  # (consumed completion ms, synced_at ms)
    last_seen: dict[str, str] = {}
    ticks, prev = [], {}
    with reader.connect(autocommit=True, application_name="bench-serving") as listen, \
            reader.connect(autocommit=True, application_name="bench-serving") as poll:
        listen.execute("listen serving_ticker")
        next_poll = 0.0
        while time.monotonic() < end:
            if time.monotonic() >= next_poll:
                for name, commit, synced in poll.execute(
                        "select table_name, last_synced_commit, (extract(epoch from synced_at) * 1000)::bigint "
                        "from sync_state where table_name = any(%s)", (list(SILVER),)).fetchall():
                    if commit and last_seen.get(name) != commit:
                        last_seen[name] = commit
                        syncs[name].append((instant_ms(commit), synced))
                for n, p in procs.items():
                    if p:
                        rss[n].append(p.memory_info().rss)
                next_poll = time.monotonic() + 1
            if select.select([listen.fileno()], [], [], 0.2)[0]:
                for note in listen.notifies(timeout=0):
                    row = json.loads(note.payload)
                    if row.get("event_time_ms") and prev.get(row["symbol"]) != row["event_time_ms"]:
                        prev[row["symbol"]] = row["event_time_ms"]
                        updated = datetime.fromisoformat(row["updated_at"]).timestamp()
                        ticks.append(updated - row["event_time_ms"] / 1000)
    wall = a.minutes * 60

    print(f"window {a.minutes:g} min from {datetime.fromtimestamp(start_ms / 1000):%H:%M:%S} (bucket {bucket})")
    lags, pending = [], 0
    for name, prefix in SILVER.items():
        done = []
        for o in client.list_objects(bucket, prefix=f"{prefix}/.hoodie/timeline/"):
            m = COMMIT.match(o.object_name.rsplit("/", 1)[-1])
            if m and instant_ms(m.group(2)) >= start_ms:
                done.append(instant_ms(m.group(2)))
        for c in sorted(done):
            after = [s for consumed, s in syncs[name] if consumed >= c]
            if after:
                lags.append((min(after) - c) / 1000)
            else:
                pending += 1
        print(f"{prefix:<26} commits={len(done)} syncs observed={len(syncs[name])}")
    print(summary("serving lag (silver->pg)", lags) + f"  unsynced at the end: {pending}")
    if lags:
        print(f"serving lag p95 {pct(lags, .95):.1f}s vs goal < 60 s: {'met' if pct(lags, .95) < 60 else 'NOT met'}")
    print(summary("latest_ticker lag", ticks))
    if ticks:
        print(f"latest_ticker lag p95 {pct(ticks, .95):.3f}s vs goal < 1 s: {'met' if pct(ticks, .95) < 1 else 'NOT met'}")
    for n, p in procs.items():
        if not p:
            print(f"{n:<26} process not found")
            continue
        t1 = p.cpu_times()
        cpu = (t1.user + t1.system - cpu0[n].user - cpu0[n].system) / wall * 100
        print(f"{n:<26} cpu {cpu:.1f}% of one core  rss max {max(rss[n]) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
