"""Bronze writer scale curve: for each symbol count, a fresh isolated stack feeding the bronze-writer service,
then its CPU, whether it kept up (Kafka lag of each bronze table, start and end of the window), trades
freshness and files per (symbol, day) partition.

    .venv/bin/python bench/bronze_scale.py --symbols 5,20,50,100,200 --minutes 5
    .venv/bin/python bench/bronze_scale.py --symbols 100 --minutes 20                  # ~2.4k msg/s
    .venv/bin/python bench/bronze_scale.py --symbols 5 --msg-rate 1000 --minutes 20    # ~5k msg/s
    .venv/bin/python bench/bronze_scale.py --symbols 5 --feed simulator --minutes 10   # the real ingest path

Per point: ``infra.deploy`` into its own CDP_VAR_DIR with free ports. Feed ``kafka`` (default): the
simulator and the streaming service are stopped and ``bench/kafka_feeder.py`` produces ``--msg-rate``
messages a second per symbol (simulator-shaped, in the streaming envelope) for N symbols ``K<i>USDT``
straight to their raw topics: at 100 symbols the simulator would need a core of its own
(docs/benchmarks-bronze.md). Feed ``simulator``: the deployed simulator (``SIMULATOR_RATE``) and
streaming service with ``ACTIVE_SYMBOLS`` set to N symbols (the file's, then made-up ``S<i>USDT`` ones). Either way the Dagster daemon, the serving-ticker and
the dashboard are stopped, so the writer is measured beside its feed alone and not beside silver/gold runs
over N symbols. After ``--warmup`` the window starts. Lag of a table = the raw topics' end offsets minus the
Kafka checkpoint of its newest commit, sampled every 30 s (the slow tables commit every ~120 s, so theirs
saw-tooths up to two minutes of messages: their lowest samples in each half of the window say whether the
slow loop keeps up; agg_trades' freshness says it too). The stack is stopped and deleted after each point. Asserts nothing."""
from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bronze_writer_cpu import find, raw_end_total  # noqa: E402
from bench.kafka_feeder import create_topics, feed  # noqa: E402
from bench.stack_load import machine_busy_s, tree_cpu_with_reaped as tree_cpu  # noqa: E402
from infra.local_stack import free_port  # noqa: E402
from shared.settings import PORT_ENV_VARS  # noqa: E402

# the services a writer-only measurement stops: they do not feed the writer
NOT_FEEDING = ("dagster-daemon", "serving-ticker", "dashboard")
SAMPLE_S = 30.0          # lag samples: a slow cycle commits every ~120 s, so about four samples a cycle
SLOW_PROBE = "book_ticker"   # a slow-loop table (~55 % of the messages) whose lag stands for the slow loop's
FILE_GROUP = re.compile(r"^([0-9a-f-]{36}-\d+)_.*\.parquet$")


def symbols(n: int) -> list[str]:
    from shared.symbols import SYMBOLS_FILE, SymbolsFile
    from shared.settings import read_yaml_mapping

    listed = [s.symbol for s in SymbolsFile.model_validate(read_yaml_mapping(SYMBOLS_FILE)).symbols]
    return (listed + [f"S{i:03d}USDT" for i in range(1, n + 1)])[:n]


def lags(spark, bucket: str, env: dict) -> dict[str, int]:
    """Per bronze table: messages in the raw topics past its newest commit's checkpoint."""
    from crypto_pipeline.lakehouse import offsets as off
    from crypto_pipeline.lakehouse.hudi import read_checkpoint
    from crypto_pipeline.lakehouse.kafka_batch import watermark_reader
    from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, bronze_path
    from infra.credentials import load_credentials
    from infra.kafka_config import PIPELINE_USER
    from infra.services import kafka_connection
    from shared.settings import load_stack_settings

    conn = kafka_connection(load_stack_settings(env=env), load_credentials(Path(env["CDP_ENV_FILE"])), PIPELINE_USER)
    with watermark_reader(conn, r"^crypto_raw_.*") as read:
        marks = read()
    out = {}
    for name in BRONZE_TABLES:
        done = off.decode(read_checkpoint(spark, bronze_path(bucket, name)))
        out[name] = sum(hi - max(lo, done.get(t, {}).get(p, lo)) for t, parts in marks.items()
                        for p, (lo, hi) in parts.items())
    return out


def slow_troughs(samples: list[tuple[float, dict[str, int]]]) -> tuple[int | None, int | None]:
    """The slow probe table's lowest lag in the first and in the second half of the window. A slow table's
    lag saw-tooths (it commits every ~120 s), so its lowest samples, just after a commit, say whether it
    keeps up: a second-half trough no higher than the first."""
    if not samples:
        return None, None
    half = samples[-1][0] / 2
    first = [s[SLOW_PROBE] for t, s in samples if t <= half]
    second = [s[SLOW_PROBE] for t, s in samples if t > half]
    return (min(first) if first else None), (min(second) if second else None)


def files_per_partition(client, bucket: str, day: str) -> tuple[float, int, float]:
    """Trades partitions of ``day``: mean and max parquet objects, mean file groups (newest snapshot's files)."""
    objs: dict[str, list[str]] = {}
    for o in client.list_objects(bucket, prefix="bronze/trades/", recursive=True):
        parts = o.object_name.split("/")
        if len(parts) == 5 and parts[3] == f"dt={day}" and parts[4].endswith(".parquet"):
            objs.setdefault(parts[2], []).append(parts[4])
    if not objs:
        return 0.0, 0, 0.0
    counts = [len(v) for v in objs.values()]
    groups = [len({m.group(1) for f in v if (m := FILE_GROUP.match(f))}) for v in objs.values()]
    return sum(counts) / len(counts), max(counts), sum(groups) / len(groups)


def start_feeder(settings, creds, syms: list[str], rate: float) -> multiprocessing.Process:
    """bench/kafka_feeder.py in a child process, with the streaming service's Kafka login (it may create
    and write the raw topics), until terminated."""
    from infra.kafka_config import STREAMING_USER
    from infra.services import kafka_connection

    conf = kafka_connection(settings, creds, STREAMING_USER).client_config()
    create_topics(conf, syms)
    proc = multiprocessing.get_context("fork").Process(target=_feed, args=(conf, syms, rate), daemon=True)
    proc.start()
    return proc


def _feed(conf: dict, syms: list[str], rate: float) -> None:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    feed(conf, syms, rate, lambda: bool(stop))


def point(n: int, a: argparse.Namespace) -> dict:
    base = Path(tempfile.mkdtemp(prefix=f"cdp-bench-scale-{n}-"))
    os.chmod(base, 0o755)
    var = base / "var"
    env = {**os.environ, "CDP_VAR_DIR": str(var), "CDP_ENV_FILE": str(base / ".env"),
           **({"ACTIVE_SYMBOLS": ",".join(symbols(n)), "SIMULATOR_RATE": f"{a.rate:g}"} if a.feed == "simulator" else {}),
           **{v: str(free_port()) for v in PORT_ENV_VARS}}
    spark = feeder = None
    try:
        t = time.monotonic()
        out = subprocess.run([".venv/bin/python", "-m", "infra.deploy"], cwd=ROOT, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(out.stdout[-3000:] + out.stderr[-3000:])
        print(f"[{n} symbols] deployed in {time.monotonic() - t:.0f} s", flush=True)
        from infra.layout import Layout
        from infra.supervisor import Supervisor

        sup = Supervisor(Layout(var=var))
        for name in NOT_FEEDING + (("simulator", "streaming") if a.feed == "kafka" else ()):
            sup.stop(name)
        from infra.credentials import load_credentials
        from infra.provision import minio_client
        from shared.settings import load_stack_settings
        from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf

        settings, creds = load_stack_settings(env=env), load_credentials(Path(env["CDP_ENV_FILE"]))
        if a.feed == "kafka":
            # symbols of their own: the deployed simulator's symbols have ids of its own in their topics
            feeder = start_feeder(settings, creds, [f"K{i:03d}USDT" for i in range(1, n + 1)], a.msg_rate)
        bucket = settings.minio.bucket
        conf = spark_conf(default_jars_dir(), settings.s3_endpoint, creds.minio_user, creds.minio_password,
                          "local[1]", "1g", 1)
        # each point has its own MinIO (port): Hadoop's FileSystem cache, which outlives a Spark session in
        # this JVM, would hand the next point the previous point's (stopped) endpoint for s3a://lakehouse
        spark = local_session({**conf, "spark.ui.showConsoleProgress": "false",
                               "spark.hadoop.fs.s3a.impl.disable.cache": "true"}, app_name="bench-bronze-scale")
        spark.sparkContext.setLogLevel("ERROR")
        time.sleep(a.warmup)
        proc = find("crypto_pipeline.bronze.service", var)
        if proc is None:
            sys.exit(f"[{n} symbols] bronze-writer process not found")
        lag0 = lags(spark, bucket, env)
        f0 = tree_cpu(psutil.Process(feeder.pid)) if feeder is not None else 0.0
        c0, m0, b0, t0 = tree_cpu(proc), raw_end_total(env), machine_busy_s(), time.monotonic()
        samples: list[tuple[float, dict[str, int]]] = []
        while time.monotonic() - t0 < a.minutes * 60:
            time.sleep(min(SAMPLE_S, a.minutes * 60 - (time.monotonic() - t0)))
            if not proc.is_running():
                sys.exit(f"[{n} symbols] the writer process ended during the measurement")
            samples.append((time.monotonic() - t0, lags(spark, bucket, env)))
            print(f"[{n} symbols] {samples[-1][0]:.0f} s: lag trades {samples[-1][1]['trades']}, "
                  f"{SLOW_PROBE} {samples[-1][1][SLOW_PROBE]}", flush=True)
        c1, m1, b1, wall = tree_cpu(proc), raw_end_total(env), machine_busy_s(), time.monotonic() - t0
        feed_cores = (tree_cpu(psutil.Process(feeder.pid)) - f0) / wall if feeder is not None else None
        lag1 = lags(spark, bucket, env)
        fpp = files_per_partition(minio_client(settings, creds), bucket, time.strftime("%Y-%m-%d", time.gmtime()))
        spark.stop()
        spark = None
        fresh = subprocess.run([sys.executable, "bench/bronze_freshness.py", "--minutes", f"{a.minutes:g}",
                                "--tables", "trades,agg_trades"], cwd=ROOT, env=env, capture_output=True, text=True)
        line = next((ln for ln in fresh.stdout.splitlines() if ln.startswith("trades ")),
                    fresh.stdout[-300:] + fresh.stderr[-300:])
        slow_line = next((ln for ln in fresh.stdout.splitlines() if ln.startswith("agg_trades ")), "agg_trades ?")
        troughs = slow_troughs(samples)
        cols = line.split()
        r = {"n": n, "feed": a.feed if a.feed == "simulator" else f"kafka {a.msg_rate:g}/s/symbol",
             "feeder": feed_cores, "cpu": (c1 - c0) / wall, "msgs": m1 - m0, "wall": wall,
             "machine": (b1 - b0) / wall, "lag0": lag0, "lag1": lag1, "fpp": fpp,
             "p50": cols[3] if len(cols) > 5 else "?", "p95": cols[4] if len(cols) > 5 else "?", "fresh": line,
             "troughs": troughs}
        print(f"[{n} symbols] writer {r['cpu']:.2f} cores, machine {r['machine']:.2f} cores "
              f"(feeder {feed_cores if feed_cores is not None else float('nan'):.2f}), {r['msgs'] / wall:.0f} msg/s, "
              f"{r['msgs'] / max(c1 - c0, 1e-9):.0f} msg/CPU-s\n  lag start {lag0}\n  lag end   {lag1}\n"
              f"  trades files per partition today: mean {fpp[0]:.1f}, max {fpp[1]}, file groups {fpp[2]:.1f}\n"
              f"  {SLOW_PROBE} lag troughs (lowest sample) first / second half of the window: "
              f"{troughs[0]} / {troughs[1]}\n"
              f"  freshness (table commits rows p50 p95 p99 max): {line}\n"
              f"                                                {slow_line}", flush=True)
        return r
    finally:
        if feeder is not None:
            feeder.terminate()
            feeder.join(60)
        if spark is not None:
            spark.stop()
        subprocess.run([".venv/bin/python", "-m", "infra.stop"], cwd=ROOT, env=env, capture_output=True)
        if a.keep_log:
            kept = Path(a.keep_log) / f"bronze-writer-{n}-symbols.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(var / "log" / "bronze-writer.log", kept)
            print(f"[{n} symbols] writer log kept: {kept}", flush=True)
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", default="5,20,50,100,200", help="comma list of symbol counts, one stack each")
    ap.add_argument("--feed", choices=("kafka", "simulator"), default="kafka",
                    help="kafka: bench/kafka_feeder.py straight to the raw topics; simulator: the deployed ingest path")
    ap.add_argument("--msg-rate", type=float, default=24.0, help="kafka feed: messages/s per symbol (all streams)")
    ap.add_argument("--rate", type=float, default=20.0, help="simulator feed: trades/s per symbol (SIMULATOR_RATE)")
    ap.add_argument("--minutes", type=float, default=5.0, help="measured window per point")
    ap.add_argument("--warmup", type=float, default=180.0, help="seconds after deploy before the window (JVM, catch-up)")
    ap.add_argument("--keep-log", metavar="DIR", help="copy each point's bronze-writer log here before the stack is deleted")
    a = ap.parse_args()
    rows = [point(int(n), a) for n in a.symbols.split(",")]
    print("\n| symbols | feed | msg/s | writer cores | CPU-s per 1k msg | msg/CPU-s | machine cores | "
          "trades lag start → end | slow-table lag troughs 1st / 2nd half | trades freshness p50 / p95 (s) | "
          "trades files per partition-day (mean/max, file groups) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = r["msgs"] / r["wall"]
        cpu_s = r["cpu"] * r["wall"]
        print(f"| {r['n']} | {r['feed']} | {rate:.0f} | {r['cpu']:.2f} | {1000 * cpu_s / max(r['msgs'], 1):.2f} | "
              f"{r['msgs'] / max(cpu_s, 1e-9):.0f} | {r['machine']:.2f} | {r['lag0']['trades']} → {r['lag1']['trades']} | "
              f"{r['troughs'][0]} / {r['troughs'][1]} | {r['p50']} / {r['p95']} | {r['fpp'][0]:.1f} / {r['fpp'][1]}, {r['fpp'][2]:.1f} |")


if __name__ == "__main__":
    main()
