"""./stop.sh: stop the stack gracefully in reverse dependency order (consumers and producers first so
they flush into Kafka while it is still up; storage last), then supervisord itself."""
from __future__ import annotations

import sys
import time

from infra.layout import Layout
from infra.supervisor import Supervisor


def stop(layout: Layout) -> int:
    sup = Supervisor(layout)
    if not sup.running():
        print("[stop] the stack is not running (no supervisord on", layout.run / "supervisor.sock", ")")
        return 0
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
    print("[stop] supervisord shut down; data kept under", layout.var)
    return 0


def _stop_order(layout: Layout, names: list[str]) -> list[str]:
    import configparser

    from infra.supervisor import conf_path

    cp = configparser.RawConfigParser()
    cp.read(conf_path(layout))
    prio = {n: int(cp.get(f"program:{n}", "priority", fallback="999")) for n in names}
    return sorted(names, key=lambda n: -prio[n])


if __name__ == "__main__":
    sys.exit(stop(Layout()))
