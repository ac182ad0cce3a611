"""Stack benchmarks: installer cold/warm time, deploy time to all-healthy, and total RSS at idle.

    .venv/bin/python bench/stack.py                # warm install + deploy + idle RSS (isolated ports/var)
    .venv/bin/python bench/stack.py --cold         # also a cold install in a fresh clone (~8 min)

Goals (issue 2): warm deploy to healthy < 60 s; idle RSS < 4 GiB. Only loopback is used."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.local_stack import free_port  # noqa: E402
from shared.settings import PORT_ENV_VARS  # noqa: E402



def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.monotonic() - t0


def stack_rss(var: Path) -> tuple[int, dict[str, int]]:
    per: dict[str, int] = {}
    for p in psutil.process_iter(["cmdline", "environ", "memory_info", "name"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            env = p.info["environ"] or {}
            if str(var) in cmd or env.get("CDP_VAR_DIR") == str(var):
                name = ("kafka" if "kafka.Kafka" in cmd else "minio" if "minio" in cmd else
                        "postgres" if "postgres" in p.info["name"] else "supervisord" if "supervisord" in cmd else
                        "dagster" if "dagster" in cmd else "simulator" if "binance_sim" in cmd else
                        "streaming" if "streaming" in cmd else p.info["name"])
                per[name] = per.get(name, 0) + p.info["memory_info"].rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return sum(per.values()), per


class Results(list):
    """Figures printed as they come (a failure later keeps what was measured) and as a table at the end."""

    def append(self, item: tuple[str, str]) -> None:
        super().append(item)
        print(f"{item[0]}: {item[1]}", flush=True)

    def table(self) -> str:
        width = max(len(k) for k, _ in self)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold", action="store_true", help="also time a cold install in a fresh clone")
    ap.add_argument("--idle", type=float, default=30, help="seconds to idle before measuring RSS")
    args = ap.parse_args()
    results = Results()

    if args.cold:
        clone = Path(tempfile.mkdtemp(prefix="cdp-cold-"))
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone / "repo")], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CDP_", "VIRTUAL_ENV"))}
        results.append(("cold install (fresh clone, empty cache)", f"{timed(['./infra/bootstrap.sh'], clone / 'repo', env):.1f} s"))
        results.append(("warm re-run of the same install", f"{timed(['./infra/bootstrap.sh'], clone / 'repo', env):.1f} s"))
        shutil.rmtree(clone, ignore_errors=True)
    results.append(("warm install (this checkout)", f"{timed(['./infra/bootstrap.sh'], ROOT):.1f} s"))

    base = Path(tempfile.mkdtemp(prefix="cdp-bench-"))
    os.chmod(base, 0o755)
    env = {**os.environ, "CDP_VAR_DIR": str(base / "var"), "CDP_ENV_FILE": str(base / ".env"),
           **{v: str(free_port()) for v in PORT_ENV_VARS}}
    try:
        t0 = time.monotonic()
        out = subprocess.run([".venv/bin/python", "-m", "infra.deploy"], cwd=ROOT, env=env, capture_output=True, text=True)
        first = time.monotonic() - t0
        if out.returncode != 0:
            sys.exit(out.stdout + out.stderr)
        results.append(("deploy to all-healthy, first run (initdb, format)", f"{first:.1f} s"))
        subprocess.run([".venv/bin/python", "-m", "infra.stop"], cwd=ROOT, env=env, capture_output=True)
        t0 = time.monotonic()
        out = subprocess.run([".venv/bin/python", "-m", "infra.deploy"], cwd=ROOT, env=env, capture_output=True, text=True)
        results.append(("deploy to all-healthy, warm (stopped stack)", f"{time.monotonic() - t0:.1f} s"))
        for line in out.stdout.splitlines():
            m = re.search(r"\] (\S+)\s+healthy \[([\d.]+)s\]", line)
            if m:
                results.append((f"  {m.group(1)} healthy after", f"{m.group(2)} s"))
        time.sleep(args.idle)
        total, per = stack_rss(base / "var")
        results.append((f"idle RSS, whole stack ({args.idle:.0f} s after deploy)", f"{total / 2**30:.2f} GiB"))
        for name, rss in sorted(per.items(), key=lambda kv: -kv[1]):
            results.append((f"  {name}", f"{rss / 2**20:.0f} MiB"))
    finally:
        subprocess.run([".venv/bin/python", "-m", "infra.stop"], cwd=ROOT, env=env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

    print("\n" + results.table())


if __name__ == "__main__":
    main()
