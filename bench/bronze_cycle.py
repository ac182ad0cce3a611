"""One bronze stream cycle, alone: CPU-seconds, wall time and Spark jobs per cycle, with the write through
Spark's Hudi datasource (the reference) and through Hudi's Java write client
(crypto_pipeline/lakehouse/java_writer.py), in the same run and Spark session.

A fast cycle (trades only, the default): the Java client with the rows parsed by Spark ("java-client") and
parsed in the JVM from the raw records ("jvm-parse", the fast loop's default). A slow cycle (``--slow``: every
other table and the quarantine, fed every stream but trades): the datasource for every table, or the Java
client for the inserts of agg trades, book ticker and tickers ("java-client", the slow loop's default).

    .venv/bin/python bench/bronze_cycle.py --cycles 40
    .venv/bin/python bench/bronze_cycle.py --slow --cycles 16 --symbols 5 --per-cycle 200

Starts its own Kafka + MinIO (infra.local_stack), one Spark session (local[2], 768 MB, like the stream),
feeds --per-cycle trades per symbol to each mode's topics before each round and runs
``run_bronze(tables=("trades",))`` through the driver-side Kafka reader once per mode, alternating the modes
so all see the same JIT state and host noise, each into its own bucket. CPU is this process plus the
Spark JVM (/proc). The first quarter of the rounds is warm-up. Prints per mode: CPU-s and wall time per
cycle (p50), messages per CPU-second, Spark job time by job description (Spark UI REST API on 127.0.0.1),
rows verified; then the ratios. Asserts nothing."""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import json
import statistics
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

UI_PORT = 4079


def _jobs_since(app_id: str, since: float) -> dict[str, list[float]]:
    url = f"http://127.0.0.1:{UI_PORT}/api/v1/applications/{app_id}/jobs?status=succeeded"
    ts = lambda s: datetime.strptime(s.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()  # noqa: E731
    out: dict[str, list[float]] = collections.defaultdict(list)
    for j in json.load(urllib.request.urlopen(url)):
        if ts(j["submissionTime"]) >= since:
            out[(j.get("description") or j["name"])[:80]].append(ts(j["completionTime"]) - ts(j["submissionTime"]))
    return out


def _cpu(pids: list[int]) -> float:
    """User + system CPU-seconds of ``pids`` so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=40)
    ap.add_argument("--symbols", type=int, default=7)
    ap.add_argument("--per-cycle", type=int, default=200,
                    help="new trades (--slow: events of each other stream) per symbol per cycle")
    ap.add_argument("--slow", action="store_true", help="a slow-loop cycle (every table but trades) instead")
    a = ap.parse_args()

    from crypto_pipeline.bronze import job
    from crypto_pipeline.lakehouse.kafka_batch import DriverKafkaReader
    from crypto_pipeline.lakehouse.java_writer import JavaWriters
    from crypto_pipeline.lakehouse.tables import BRONZE_TABLES
    from crypto_pipeline.resources.kafka import KafkaResource
    from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf
    from infra.local_stack import LocalStack
    from tests.integration.bronze.helpers import Feed, create_topic, make_bucket, new_symbol, other_streams

    stack = LocalStack.create()
    try:
        stack.start("kafka", "minio")
        s, c = stack.settings, stack.creds
        conf = spark_conf(default_jars_dir(), s.s3_endpoint, c.minio_user, c.minio_password, "local[2]", "768m", 2)
        conf.update({"spark.ui.enabled": "true", "spark.ui.port": str(UI_PORT), "spark.ui.showConsoleProgress": "false",
                     "spark.sql.inMemoryColumnarStorage.compressed": "false"})
        spark = local_session(conf, app_name="bench-bronze-cycle")
        spark.sparkContext.setLogLevel("ERROR")
        feed = Feed(s.kafka_bootstrap)
        tables = tuple(n for n in BRONZE_TABLES if n != "trades") if a.slow else ("trades",)
        print(f"{a.symbols} symbols, {a.per_cycle} {'events of each other stream' if a.slow else 'trades'} per symbol "
              f"per cycle, {a.cycles} cycles per mode, tables {', '.join(tables)}")
        modes = {"datasource": None, "java-client": JavaWriters(spark, tables, parse_records=False)}
        if not a.slow:
            modes["jvm-parse"] = JavaWriters(spark, tables)
        probe = "book_ticker" if a.slow else "trades"     # the table whose rows are verified
        runs = {}
        for mode in modes:
            bucket = make_bucket(s.s3_endpoint, c.minio_user, c.minio_password)
            tag = {"datasource": "CYD", "java-client": "CYJ", "jvm-parse": "CYP"}[mode]
            syms = [new_symbol(tag) for _ in range(a.symbols)]
            for sym in syms:
                create_topic(s.kafka_bootstrap, sym)
            kafka = KafkaResource(bootstrap_servers=s.kafka_bootstrap, topic_pattern=f"^crypto_raw_x{tag.lower()}.*$")
            runs[mode] = {"bucket": bucket, "syms": syms, "kafka": kafka, "next": {sym: 1 for sym in syms},
                          "cpu": [], "wall": [], "jobs": collections.defaultdict(list)}
        pids = [os.getpid(), int(spark._jvm.java.lang.ProcessHandle.current().pid())]
        warm = a.cycles // 4
        with contextlib.ExitStack() as stack_:
            clients = {m: (stack_.enter_context(r["kafka"].watermark_reader()), stack_.enter_context(DriverKafkaReader(s.kafka_bootstrap)))
                  for m, r in runs.items()}
            for i in range(a.cycles):
                for mode, r in runs.items():
                    for sym in r["syms"]:
                        if a.slow:
                            feed.others(sym, a.per_cycle, start=r["next"][sym])
                            feed.klines(sym, [i])
                        else:
                            feed.trades(sym, range(r["next"][sym], r["next"][sym] + a.per_cycle))
                        r["next"][sym] += a.per_cycle
                    feed.flush()
                    wm, reader = clients[mode]
                    since, cpu0, t0 = time.time(), _cpu(pids), time.monotonic()
                    job.run_bronze(spark, r["bucket"], s.kafka_bootstrap, r["kafka"].topic_pattern, wm(), run_id="bench",
                                   tables=tables, driver_reader=reader, java_writers=modes[mode]).release()
                    if i >= warm:
                        r["cpu"].append(_cpu(pids) - cpu0)
                        r["wall"].append(time.monotonic() - t0)
                        for name, v in _jobs_since(spark.sparkContext.applicationId, since).items():
                            r["jobs"][name] += v
        for writers in modes.values():
            if writers is not None:
                writers.close()
        n = len(runs["datasource"]["cpu"])
        # --slow: every other stream's event per index (helpers.other_streams) and a kline opened and closed
        msgs = a.symbols * (a.per_cycle * len(other_streams("X", 0)) + 2) if a.slow else a.symbols * a.per_cycle
        for mode, r in runs.items():
            rows = spark.read.format("hudi").load(f"s3a://{r['bucket']}/bronze/{probe}").count()
            cpu = statistics.median(r["cpu"])
            print(f"\n{mode}: CPU p50 {cpu:.2f} CPU-s/cycle, wall p50 {statistics.median(r['wall']):.2f}s "
                  f"p95 {statistics.quantiles(r['wall'], n=20)[-1]:.2f}s; {msgs / cpu:.0f} msg per CPU-s; "
                  f"{probe} rows {rows} (expected {a.symbols * a.cycles * a.per_cycle})")
            print(f"  Spark job time per cycle {sum(sum(v) for v in r['jobs'].values()) / n:.2f}s, top jobs:")
            for name, v in sorted(r["jobs"].items(), key=lambda kv: -sum(kv[1]))[:6]:
                print(f"  {sum(v) / n:6.3f}s/cycle  {len(v) / n:4.1f} jobs  {name}")
        ref = statistics.median(runs["datasource"]["cpu"])
        for m in [m for m in modes if m != "datasource"]:
            new_ = statistics.median(runs[m]["cpu"])
            print(f"ratio CPU per cycle {m} / datasource = {new_ / ref:.2f} (messages per CPU-second x{ref / new_:.1f})")
        spark.stop()
    finally:
        stack.close()


if __name__ == "__main__":
    main()
