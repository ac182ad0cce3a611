"""One bronze stream cycle (trades only), alone: how long it takes and which Spark jobs it runs, for the
dense-id insert path against the bloom-index upsert path on the same Spark session (the reference).

    .venv/bin/python bench/bronze_cycle.py --cycles 40

Starts its own Kafka + MinIO (infra.local_stack), one Spark session (local[2], 768 MB, like the stream),
feeds --per-cycle trades per symbol before each cycle and runs ``run_bronze(tables=("trades",))`` through
the driver-side Kafka reader, first with the trades table upserted through Hudi's bloom index (the
reference), then written by insert after the committed-id-range check (the default), each into its own
bucket. The first quarter of the cycles is warm-up. Prints cycle p50/p95, Spark job time per cycle by job
description (Spark UI REST API on 127.0.0.1), rows verified; asserts nothing."""
from __future__ import annotations

import argparse
import collections
import dataclasses
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=40)
    ap.add_argument("--symbols", type=int, default=7)
    ap.add_argument("--per-cycle", type=int, default=200, help="new trades per symbol per cycle")
    a = ap.parse_args()

    from crypto_pipeline.bronze import job
    from crypto_pipeline.lakehouse.kafka_batch import DriverKafkaReader
    from crypto_pipeline.lakehouse.tables import TRADES
    from crypto_pipeline.resources.kafka import KafkaResource
    from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf
    from infra.local_stack import LocalStack
    from tests.integration.bronze.helpers import Feed, create_topic, make_bucket, new_symbol

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
        print(f"{a.symbols} symbols, {a.per_cycle} trades per symbol per cycle, {a.cycles} cycles per mode")
        results = {}
        for mode, table in (("upsert (bloom index)", dataclasses.replace(TRADES, dense_id=None)), ("insert (id ranges)", TRADES)):
            job.STREAM_TABLES[TRADES.name] = table   # the reference run writes trades the way it used to
            bucket = make_bucket(s.s3_endpoint, c.minio_user, c.minio_password)
            tag = "CYU" if table.dense_id is None else "CYI"
            syms = [new_symbol(tag) for _ in range(a.symbols)]
            for sym in syms:
                create_topic(s.kafka_bootstrap, sym)
            kafka = KafkaResource(bootstrap_servers=s.kafka_bootstrap, topic_pattern=f"^crypto_raw_x{tag.lower()}.*$")
            nid = {sym: 1 for sym in syms}
            cycles, warm_from = [], time.time()
            with kafka.watermark_reader() as wm, DriverKafkaReader(s.kafka_bootstrap) as reader:
                for i in range(a.cycles):
                    for sym in syms:
                        feed.trades(sym, range(nid[sym], nid[sym] + a.per_cycle))
                        nid[sym] += a.per_cycle
                    feed.flush()
                    if i == a.cycles // 4:
                        warm_from = time.time()
                    t0 = time.monotonic()
                    job.run_bronze(spark, bucket, s.kafka_bootstrap, kafka.topic_pattern, wm(), run_id="bench",
                                   tables=("trades",), driver_reader=reader).release()
                    cycles.append(time.monotonic() - t0)
            measured = cycles[a.cycles // 4:]
            jobs = _jobs_since(spark.sparkContext.applicationId, warm_from)
            rows = spark.read.format("hudi").load(f"s3a://{bucket}/bronze/trades").count()
            results[mode] = statistics.median(measured)
            print(f"\n{mode}: cycle p50 {statistics.median(measured):.2f}s p95 "
                  f"{statistics.quantiles(measured, n=20)[-1]:.2f}s; rows {rows} (expected {a.symbols * a.cycles * a.per_cycle})")
            print(f"  Spark job time per cycle {sum(sum(v) for v in jobs.values()) / len(measured):.2f}s, top jobs:")
            for name, v in sorted(jobs.items(), key=lambda kv: -sum(kv[1]))[:6]:
                print(f"  {sum(v) / len(measured):6.3f}s/cycle  {len(v) / len(measured):4.1f} jobs  {name}")
        ref, new = results["upsert (bloom index)"], results["insert (id ranges)"]
        print(f"\nratio cycle p50 insert / upsert = {new / ref:.2f}")
        spark.stop()
    finally:
        stack.close()


if __name__ == "__main__":
    main()
