"""Bronze writer cost at deploy load, the old design against the new one in the same run: CPU of the
writer's processes (Python + its Spark JVM), messages per CPU-second, whether it kept up, trades freshness.

    .venv/bin/python bench/bronze_writer_cpu.py --minutes 10 [--attach] [--old-ref 47b0670^]

Deploys an isolated stack (own CDP_VAR_DIR, env file and free ports; stopped and deleted afterwards) with the
simulator's default symbols. Phase *new*: the bronze-writer service as deployed. Phase *old*: the service
stopped, the old design run from ``git archive <old-ref>`` — ``bronze_stream_job`` as a Dagster run
(``dagster job execute``), which is what the keeper sensor started — against the same stack and tables.
Each phase warms up, then is measured for ``--minutes``. Messages = growth of the ``crypto_raw_*`` end
offsets (what the writer had to consume); CPU = user+system seconds of the writer's process tree, also
split by thread group (JIT, GC, Spark tasks, py4j, ...: ``bench/thread_cpu.py``).
Asserts nothing: prints figures and the ratio new/old."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack_load import tree_cpu_with_reaped as tree_cpu  # noqa: E402
from bench.thread_cpu import format_groups, thread_groups, thread_snapshot  # noqa: E402
from infra.local_stack import free_port  # noqa: E402
from shared.settings import PORT_ENV_VARS  # noqa: E402


def find(pattern: str, var: Path) -> psutil.Process | None:
    for p in psutil.process_iter(["cmdline", "environ"]):
        try:
            if pattern in " ".join(p.info["cmdline"] or []) and (p.info["environ"] or {}).get("CDP_VAR_DIR") == str(var):
                return p
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def raw_end_total(env: dict) -> int:
    from crypto_pipeline.lakehouse.kafka_batch import watermark_reader
    from infra.credentials import load_credentials
    from infra.kafka_config import PIPELINE_USER
    from infra.services import kafka_connection
    from shared.settings import load_stack_settings

    # the stack's broker wants the pipeline's SASL login (read-only on the raw topics)
    conn = kafka_connection(load_stack_settings(env=env), load_credentials(Path(env["CDP_ENV_FILE"])), PIPELINE_USER)
    with watermark_reader(conn, r"^crypto_raw_.*") as read:
        return sum(hi for parts in read().values() for _lo, hi in parts.values())


def measure(name: str, proc_of, env: dict, warmup_s: float, minutes: float) -> dict:
    time.sleep(warmup_s)
    proc = proc_of()
    if proc is None:
        sys.exit(f"{name}: writer process not found")
    c0, m0, t0, threads0 = tree_cpu(proc), raw_end_total(env), time.monotonic(), thread_snapshot(proc)
    peak_rss = 0
    while time.monotonic() - t0 < minutes * 60:
        time.sleep(10)
        try:
            peak_rss = max(peak_rss, sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]))
        except psutil.NoSuchProcess:
            sys.exit(f"{name}: the writer process ended during the measurement")
    c1, m1, wall, threads1 = tree_cpu(proc), raw_end_total(env), time.monotonic() - t0, thread_snapshot(proc)
    fresh = subprocess.run([sys.executable, "bench/bronze_freshness.py", "--minutes", f"{minutes:g}", "--tables", "trades"],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    line = next((ln for ln in fresh.stdout.splitlines() if ln.startswith("trades ")), fresh.stdout[-300:] + fresh.stderr[-300:])
    r = {"name": name, "cpu_s": c1 - c0, "wall_s": wall, "messages": m1 - m0, "rss_mb": peak_rss / 2**20,
         "freshness": line, "load": os.getloadavg(), "threads": thread_groups(threads0, threads1, c1 - c0)}
    print(f"{name}: {r['cpu_s']:.0f} CPU-s in {wall:.0f} s = {r['cpu_s'] / wall:.2f} cores; {r['messages']} messages "
          f"= {r['messages'] / max(r['cpu_s'], 1e-9):.0f} msg/CPU-s; peak RSS {r['rss_mb']:.0f} MiB; load {r['load']}\n"
          f"  freshness (table commits rows p50 p95 p99 max): {line}\n"
          f"  {format_groups(r['threads'], wall)}", flush=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=180, help="seconds before each measurement (catch-up, JVM start)")
    ap.add_argument("--old-ref", default="47b0670^",
                    help="git ref of the old design (bronze_stream_job; the commit before the service replaced it)")
    ap.add_argument("--only-new", action="store_true")
    ap.add_argument("--only-old", action="store_true", help="skip the new phase (e.g. measured already on this stack)")
    ap.add_argument("--attach", action="store_true",
                    help="measure the stack this environment names (CDP_VAR_DIR, CDP_ENV_FILE, ports) instead of "
                         "deploying an isolated one; it is left running (the old phase leaves bronze-writer stopped)")
    ap.add_argument("--ui-status", help="after the new phase, run this ui_status.py against the stack's webserver "
                                        "(what a user sees in the UI after ~warmup+minutes of data)")
    a = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="cdp-bench-bronze-"))
    os.chmod(base, 0o755)
    if a.attach:
        from infra.layout import Layout as _Layout

        var = _Layout().var
        env = {**os.environ, "CDP_VAR_DIR": str(var),
               "CDP_ENV_FILE": os.environ.get("CDP_ENV_FILE", str(ROOT / ".env"))}
    else:
        var = base / "var"
        env = {**os.environ, "CDP_VAR_DIR": str(var), "CDP_ENV_FILE": str(base / ".env"),
               **{v: str(free_port()) for v in PORT_ENV_VARS}}
    results = []
    try:
        if not a.attach:
            out = subprocess.run([".venv/bin/python", "-m", "infra.deploy"], cwd=ROOT, env=env, capture_output=True,
                                 text=True)
            if out.returncode != 0:
                sys.exit(out.stdout[-3000:] + out.stderr[-3000:])
        if not a.only_old:
            results.append(measure("new: bronze-writer service", lambda: find("crypto_pipeline.bronze.service", var),
                                   env, a.warmup, a.minutes))
        if a.ui_status:
            url = f"http://127.0.0.1:{env['DAGSTER_PORT']}"
            ui = subprocess.run([sys.executable, a.ui_status, url], capture_output=True, text=True)
            print(f"--- {a.ui_status} {url} (exit {ui.returncode}) ---\n{ui.stdout}{ui.stderr[-2000:]}", flush=True)
        if not a.only_new:
            from infra.layout import Layout
            from infra.supervisor import Supervisor

            layout = Layout(var=var)
            Supervisor(layout).stop("bronze-writer")
            old = base / "old"
            old.mkdir()
            subprocess.run(f"git archive {a.old_ref} | tar -x -C {old}", shell=True, cwd=ROOT, check=True)
            (old / ".venv").symlink_to(ROOT / ".venv")
            (old / ".cache").symlink_to(Path(os.environ.get("CDP_CACHE_DIR", ROOT / ".cache")).resolve())
            cfg = base / "old-run.yaml"
            cfg.write_text("ops:\n  bronze_stream:\n    config:\n      stop_after_s: %d\n" % (a.warmup + a.minutes * 60 + 300))
            from infra.credentials import load_credentials
            from infra.services import dagster_env
            from shared.settings import load_stack_settings

            denv = dagster_env(load_stack_settings(env=env), load_credentials(Path(env["CDP_ENV_FILE"])), layout)
            # the old code read its S3 keys as MINIO_ROOT_*: hand it the pipeline user's (lakehouse bucket only)
            job_env = {**env, **denv, "PYTHONPATH": str(old),
                       "MINIO_ROOT_USER": denv["S3_ACCESS_KEY"], "MINIO_ROOT_PASSWORD": denv["S3_SECRET_KEY"]}
            log = open(base / "old-run.log", "wb")
            run = subprocess.Popen([str(ROOT / ".venv/bin/dagster"), "job", "execute", "-m", "crypto_pipeline.definitions",
                                    "-j", "bronze_stream_job", "-c", str(cfg)], cwd=str(old), env=job_env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                results.append(measure(f"old: bronze_stream_job run ({a.old_ref})", lambda: psutil.Process(run.pid), env,
                                       a.warmup, a.minutes))
            finally:
                os.killpg(run.pid, 15)
                run.wait(120)
        print("\n| design | writer CPU (cores) | msg/CPU-s | messages | peak RSS | trades freshness (commits rows p50 p95 p99 max) |")
        print("|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['name']} | {r['cpu_s'] / r['wall_s']:.2f} | {r['messages'] / max(r['cpu_s'], 1e-9):.0f} | "
                  f"{r['messages']} | {r['rss_mb']:.0f} MiB | {r['freshness'].split(None, 1)[-1]} |")
        if len(results) == 2:
            new, old_r = results
            ratio = (new["messages"] / new["cpu_s"]) / (old_r["messages"] / old_r["cpu_s"])
            print(f"\nmessages per CPU-second, new / old = {ratio:.2f}")
    finally:
        if not a.attach:
            subprocess.run([".venv/bin/python", "-m", "infra.stop"], cwd=ROOT, env=env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
