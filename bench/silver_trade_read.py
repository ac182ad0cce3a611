"""How silver reads the trades of new bronze commits: in the driver (the files those commits wrote, with
pyarrow; ``ohlcv_job._new_trades``) against Hudi's incremental query (the reference), on a running stack's
bronze trades table, in one Spark session.

    CDP_VAR_DIR=… CDP_ENV_FILE=… MINIO_PORT=… .venv/bin/python bench/silver_trade_read.py [--commits 60] [--repeat 2]

The environment names the stack as for ./monitor.sh. Prints each phase of the driver read per repetition,
then the reference's time and the ratio. Asserts nothing."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=60, help="the newest N trades commits (~5 minutes at 5 s)")
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()

    from pyspark.sql.types import StructType

    from crypto_pipeline.lakehouse.files import LakeFiles
    from crypto_pipeline.lakehouse.hudi import completed_commits
    from crypto_pipeline.lakehouse.tables import TRADES
    from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf
    from crypto_pipeline.silver import hudi
    from crypto_pipeline.silver.ohlcv_job import TRADE_COLS
    from infra.credentials import load_credentials
    from infra.layout import Layout
    from shared.settings import load_stack_settings

    s, c = load_stack_settings(), load_credentials(Layout().env_file)
    conf = spark_conf(default_jars_dir(), s.s3_endpoint, c.pipeline_s3_user, c.pipeline_s3_password,
                      master="local[2]", driver_memory="1g", shuffle_partitions=2)
    conf["spark.ui.showConsoleProgress"] = "false"
    spark = local_session(conf, app_name="bench-silver-trade-read")
    spark.sparkContext.setLogLevel("ERROR")
    path = f"s3a://{s.minio.bucket}/bronze/trades"
    instants = sorted(completed_commits(spark, path).getInstants(), key=lambda i: i.getCompletionTime())
    if len(instants) <= a.commits:
        sys.exit(f"{path} has {len(instants)} completed commits; need more than --commits {a.commits}")
    begin, end = instants[-a.commits - 1].getCompletionTime(), instants[-1].getCompletionTime()
    schema = StructType([TRADES.schema[col] for col in TRADE_COLS])
    best = None
    for rep in range(1, a.repeat + 1):
        files = LakeFiles(spark)
        t0 = time.monotonic()
        found = files.increment_files(path, begin, end, skip_rewrites=True)
        if found is None:
            sys.exit("the range holds cleaned files or archived commits: the driver read would hand it to Hudi")
        t1 = time.monotonic()
        table = files.read_increment(found, list(TRADE_COLS))
        t2 = time.monotonic()
        pdf = table.to_pandas()
        t3 = time.monotonic()
        n = spark.createDataFrame(pdf, schema).count()
        t4 = time.monotonic()
        best = t4 - t0 if best is None else min(best, t4 - t0)
        print(f"driver read #{rep}: {len(found.files)} files, {n} rows: commit metadata {t1 - t0:.1f} s, "
              f"pyarrow {t2 - t1:.1f} s, pandas {t3 - t2:.1f} s, createDataFrame+count {t4 - t3:.1f} s, "
              f"total {t4 - t0:.1f} s", flush=True)
    t0 = time.monotonic()
    n = hudi.read_incremental(spark, path, begin, end).select(*TRADE_COLS).count()
    ref = time.monotonic() - t0
    print(f"Hudi incremental query + count: {n} rows, {ref:.1f} s; best driver read / Hudi = {best / ref:.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
