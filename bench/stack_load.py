"""Whole-stack load at the deploy load: CPU and memory of every supervised service of a running stack over a
window, the machine's total, and the load average — the figure each new service must be re-measured against.

    ./deploy.sh                                      # or an isolated stack: CDP_VAR_DIR=... + its ports
    .venv/bin/python bench/stack_load.py --minutes 10

CPU of a service = user+system seconds of its whole process tree, including children that ended during the
window (a Dagster run is a child of the daemon that launched it; its Spark JVM a child of the run): a live
process's ``children_*`` times hold its reaped children. The machine's own CPU counters give the reference
(everything that ran, stack or not). Reads only; asserts nothing."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.layout import Layout  # noqa: E402
from infra.supervisor import Supervisor  # noqa: E402


def tree_cpu_with_reaped(root: psutil.Process) -> float:
    """CPU seconds of ``root``'s tree: live processes plus the children they have reaped."""
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            continue
    return total


def tree_rss(root: psutil.Process) -> int:
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def machine_busy_s() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--sample-s", type=float, default=5, help="RSS sampling period")
    a = ap.parse_args()

    layout = Layout()
    sup = Supervisor(layout)
    if not sup.running():
        sys.exit(f"no stack is running for CDP_VAR_DIR={layout.var} (start it with ./deploy.sh)")
    procs = {n: psutil.Process(i["pid"]) for n, i in sup.info().items() if i["statename"] == "RUNNING" and i["pid"]}
    cpu0 = {n: tree_cpu_with_reaped(p) for n, p in procs.items()}
    busy0, t0 = machine_busy_s(), time.monotonic()
    rss_max = {n: 0 for n in procs}
    loads = []
    while time.monotonic() - t0 < a.minutes * 60:
        for n, p in procs.items():
            rss_max[n] = max(rss_max[n], tree_rss(p))
        loads.append(os.getloadavg()[0])
        time.sleep(a.sample_s)
    wall = time.monotonic() - t0
    busy = machine_busy_s() - busy0
    print(f"window {wall:.0f} s, {psutil.cpu_count()} CPUs; load average (1-min) min/median/max "
          f"{min(loads):.1f}/{sorted(loads)[len(loads) // 2]:.1f}/{max(loads):.1f}\n")
    print("| service | CPU (cores) | peak RSS (MiB) |\n|---|---|---|")
    stack = 0.0
    for n, p in sorted(procs.items(), key=lambda kv: -(tree_cpu_with_reaped(kv[1]) - cpu0[kv[0]])):
        try:
            used = tree_cpu_with_reaped(p) - cpu0[n]
        except psutil.NoSuchProcess:
            print(f"| {n} | ended during the window | – |")
            continue
        stack += used
        print(f"| {n} | {used / wall:.2f} | {rss_max[n] / 2**20:.0f} |")
    print(f"| **stack total** | **{stack / wall:.2f}** | **{sum(rss_max.values()) / 2**20:.0f}** |")
    print(f"| machine (everything) | {busy / wall:.2f} | {psutil.virtual_memory().used / 2**20:.0f} used |")


if __name__ == "__main__":
    main()
