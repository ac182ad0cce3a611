"""Bronze write throughput vs a plain Parquet write of the same rows on the same Spark session, and a
freshness estimate (exchange event -> row queryable) for the sensor-driven batch design.

    .venv/bin/python bench/bronze.py --trades 200000 --incremental 20000

Starts its own Kafka + MinIO (infra.local_stack), produces simulator-shaped trade envelopes, then times
(1) Kafka read + parse + Parquet write of the trades, (2) a full bronze run (read once, 7 Hudi tables,
checkpoints), (3) incremental bronze runs of --incremental new trades. Prints figures; asserts nothing."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=200_000)
    ap.add_argument("--incremental", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sensor-interval", type=int, default=60)
    a = ap.parse_args()

    from crypto_pipeline.bronze import parse
    from crypto_pipeline.bronze.job import prepare_session, run_bronze
    from crypto_pipeline.lakehouse.kafka_batch import read_with_spark
    from crypto_pipeline.lakehouse import offsets as off
    from crypto_pipeline.lakehouse.tables import TRADES
    from crypto_pipeline.resources.kafka import KafkaResource
    from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf
    from infra.local_stack import LocalStack
    from tests.integration.bronze.helpers import Feed, create_topic, make_bucket, new_symbol

    stack = LocalStack.create()
    try:
        stack.start("kafka", "minio")
        s, c = stack.settings, stack.creds
        bucket = make_bucket(s.s3_endpoint, c.minio_user, c.minio_password)
        sym = new_symbol("BENCH")
        create_topic(s.kafka_bootstrap, sym)
        feed = Feed(s.kafka_bootstrap)
        feed.trades(sym, range(1, a.trades + 1))
        feed.flush()
        kafka = KafkaResource(bootstrap_servers=s.kafka_bootstrap, topic_pattern=f"^crypto_raw_{sym.lower()}$")
        spark = local_session(spark_conf(default_jars_dir(), s.s3_endpoint, c.minio_user, c.minio_password,
                                         "local[2]", "2g", 4))
        spark.sparkContext.setLogLevel("ERROR")
        prepare_session(spark)
        wm = kafka.end_offsets()
        plan = off.plan_run(wm, {"x": {}})

        def parquet_once() -> float:
            t0 = time.monotonic()
            env = parse.envelopes(read_with_spark(spark, s.kafka_bootstrap, kafka.topic_pattern, plan))
            parse.valid(parse.stream_rows(env, TRADES), TRADES).write.mode("overwrite").partitionBy("symbol", "dt") \
                .parquet(f"s3a://{bucket}/bench/parquet_trades")
            return time.monotonic() - t0

        parquet_once()  # warm-up (JIT, codegen, S3A pools) so neither side pays it
        t_parquet = parquet_once()
        r = run_bronze(spark, bucket, s.kafka_bootstrap, kafka.topic_pattern, wm, run_id="bench")
        t_bronze = r.seconds
        r.release()
        incr = []
        next_id = a.trades + 1
        for _ in range(a.runs):
            feed.trades(sym, range(next_id, next_id + a.incremental))
            feed.flush()
            next_id += a.incremental
            ri = run_bronze(spark, bucket, s.kafka_bootstrap, kafka.topic_pattern, kafka.end_offsets(), run_id="bench")
            incr.append(ri.seconds)
            ri.release()
        rows = spark.read.format("hudi").load(f"s3a://{bucket}/bronze/trades").count()
        assert rows == next_id - 1, (rows, next_id - 1)

        pq_rate, br_rate = a.trades / t_parquet, a.trades / t_bronze
        run_p50 = statistics.median(incr)
        iv = a.sensor_interval
        # event -> queryable = wait for the next sensor tick (uniform over the interval) + one run
        # (+ the streaming service's own latency, milliseconds, and Dagster run launch, measured apart)
        print(f"rows={a.trades} parquet_s={t_parquet:.1f} parquet_rows_per_s={pq_rate:.0f}")
        print(f"bronze_first_run_s={t_bronze:.1f} bronze_rows_per_s={br_rate:.0f} ratio={br_rate / pq_rate:.2f}")
        print(f"incremental_rows={a.incremental} run_s={[round(x, 1) for x in incr]} "
              f"incremental_rows_per_s={a.incremental / run_p50:.0f}")
        print(f"freshness_estimate_s p50={iv * 0.5 + run_p50:.0f} p95={iv * 0.95 + max(incr):.0f} "
              f"(sensor interval {iv}s + run; excludes Dagster run-launch overhead)")
        print(f"verified rows in bronze/trades: {rows}")
        spark.stop()
    finally:
        stack.close()


if __name__ == "__main__":
    main()
