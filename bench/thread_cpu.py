"""CPU of a process tree by thread group (the JVM's JIT compilers, its garbage collector, Spark's task
threads, py4j's call threads, the Python driver, librdkafka, ...) over a window: where a service's CPU goes
without a profiler attached.

    snap = thread_snapshot(proc); ...; print(format_groups(thread_groups(snap, thread_snapshot(proc), total)))

Thread names come from ``/proc/<pid>/task/<tid>/comm`` (Linux truncates them to 15 characters); a thread
that ended inside the window takes its CPU with it, which the report shows as "threads ended in the window"
(the tree's total minus what the live threads account for)."""
from __future__ import annotations

import re
from pathlib import Path

import psutil

# first match wins; a name matching none keeps its own (digits collapsed), so nothing is hidden
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JIT compiler", ("C1 CompilerThre", "C2 CompilerThre", "Sweeper thread")),
    ("garbage collector", ("GC Thread", "G1 ", "VM Thread")),
    ("Spark tasks", ("Executor task l",)),
    ("py4j calls", ("Thread-",)),   # py4j's gateway server runs each connection in a thread of that name
    ("S3A transfers", ("s3a-transfer",)),
    ("librdkafka", ("rdk:",)),
)

Snapshot = dict[tuple[int, int], tuple[str, str, float]]   # (pid, tid) -> (process, group, CPU seconds)


def group_of(thread_name: str) -> str:
    for group, prefixes in GROUPS:
        if thread_name.startswith(prefixes):
            return group
    return re.sub(r"\d+", "#", thread_name)


def _comm(pid: int, tid: int) -> str:
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


def thread_snapshot(root: psutil.Process) -> Snapshot:
    out: Snapshot = {}
    for p in [root, *root.children(recursive=True)]:
        try:
            kind = "jvm" if p.name() == "java" else "python" if "python" in p.name() else p.name()
            for t in p.threads():
                out[(p.pid, t.id)] = (kind, group_of(_comm(p.pid, t.id)), t.user_time + t.system_time)
        except psutil.NoSuchProcess:
            continue
    return out


def thread_groups(before: Snapshot, after: Snapshot, total_cpu_s: float) -> dict[str, float]:
    """CPU seconds per ``process: group`` between two snapshots; the remainder of ``total_cpu_s`` (the
    tree's CPU over the same window) is put under "threads ended in the window"."""
    groups: dict[str, float] = {}
    for key, (kind, group, cpu) in after.items():
        spent = cpu - before[key][2] if key in before else cpu
        groups[f"{kind}: {group}"] = groups.get(f"{kind}: {group}", 0.0) + spent
    groups["threads ended in the window"] = max(0.0, total_cpu_s - sum(groups.values()))
    return groups


def format_groups(groups: dict[str, float], wall_s: float, top: int = 10) -> str:
    ranked = sorted(groups.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{name} {cpu / wall_s:.3f}" for name, cpu in ranked[:top] if cpu > 0)
    rest = sum(cpu for _name, cpu in ranked[top:])
    return f"CPU by thread group (cores): {shown}" + (f", other {rest / wall_s:.3f}" if rest > 0 else "")
