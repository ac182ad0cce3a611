"""./stop.sh: stop the stack gracefully in reverse dependency order (consumers and producers first so
they flush into Kafka while it is still up; storage last), then supervisord itself."""
from __future__ import annotations

import os
import sys
import time

from infra.layout import Layout
from infra.supervisor import Supervisor


def stop(layout: Layout) -> int:
    sup = Supervisor(layout)
    if not sup.running():
        print("[stop] the stack is not running (no supervisord on", layout.run / "supervisor.sock", ")")
        return 0
    _cancel_dagster_runs(sup)
    # the rendered config knows each priority; stop the most dependent (highest priority) first
    order = _stop_order(layout, list(sup.info()))
    for name in order:
        t0 = time.monotonic()
        sup.stop(name)
        print(f"[stop] {name:<18} stopped [{time.monotonic() - t0:.1f}s]", flush=True)
    sup.shutdown()
    deadline = time.monotonic() + 30
    while sup.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    reap_leftovers(layout)
    print("[stop] supervisord shut down; data kept under", layout.var)
    return 0


def stack_processes(layout: Layout) -> list:
    """Processes of this stack that outlive their supervised parent (e.g. Dagster's code-server
    subprocesses, which start their own session): recognised by the CDP_VAR_DIR they inherited."""
    import psutil

    var = str(layout.var)
    found = []
    for p in psutil.process_iter(["environ"]):
        try:
            if (p.info["environ"] or {}).get("CDP_VAR_DIR") == var and p.pid != os.getpid():
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def reap_leftovers(layout: Layout, grace: float = 15) -> None:
    import psutil

    procs = stack_processes(layout)
    if not procs:
        return
    for p in procs:
        p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        p.kill()
    print(f"[stop] ended {len(procs)} leftover process(es) of the stack ({len(alive)} needed SIGKILL)")


def _cancel_dagster_runs(sup: Supervisor) -> None:
    if sup.info().get("dagster-webserver", {}).get("statename") != "RUNNING":
        return
    from infra.dagster_runs import terminate_active_runs
    from shared.settings import load_stack_settings

    s = load_stack_settings()
    try:
        n = terminate_active_runs(f"http://{s.bind_host}:{s.dagster.port}")
    except Exception as exc:  # the stack must still stop; the daemon's run monitoring is the safety net
        print(f"[stop] could not cancel in-flight Dagster runs: {exc}")
        return
    if n:
        print(f"[stop] canceled {n} in-flight Dagster run(s)", flush=True)


def _stop_order(layout: Layout, names: list[str]) -> list[str]:
    import configparser

    from infra.supervisor import conf_path

    cp = configparser.RawConfigParser()
    cp.read(conf_path(layout))
    prio = {n: int(cp.get(f"program:{n}", "priority", fallback="999")) for n in names}
    return sorted(names, key=lambda n: -prio[n])


if __name__ == "__main__":
    sys.exit(stop(Layout()))
