"""Bronze freshness in the running deploy stack: exchange event -> row queryable, per row.

    ./deploy.sh            # let it run a few minutes (bronze_stream_job starts by itself)
    .venv/bin/python bench/bronze_freshness.py --minutes 10

A row becomes queryable when the Hudi commit that wrote it completes, so for every row committed in the
window: freshness = completion time of its commit (``<requested>_<completed>.commit`` in the table's
timeline) - the exchange's event time of the row. Read-only: it lists the timeline on S3 and reads the
rows of those commits with Spark; it does not depend on what the writer reports about itself. Prints
p50/p95/p99/max per table and the trade freshness goal (p95 < 30 s); asserts nothing."""
from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# table -> exchange event time (book_ticker and partial-depth snapshots carry none: measured from ingest time)
EVENT_TIME = {"trades": "trade_time_ms", "agg_trades": "trade_time_ms", "klines": "event_time_ms",
              "tickers": "event_time_ms", "depth": "coalesce(event_time_ms, ingest_time_ms)",
              "book_ticker": "ingest_time_ms"}
COMMIT = re.compile(r"^(\d{17})_(\d{17})\.commit$")


def instant_ms(stamp: str) -> int:
    """Hudi instant times are local wall-clock yyyyMMddHHmmssSSS (hoodie.table.timeline.timezone=LOCAL)."""
    return int(datetime.strptime(stamp, "%Y%m%d%H%M%S%f").timestamp() * 1000)


def instant_stamp(ms: int) -> str:
    """The inverse of :func:`instant_ms` (begin of an incremental query, exclusive)."""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y%m%d%H%M%S%f")[:17]


def completed_commits(client, bucket: str, table: str, since_ms: int) -> dict[str, int]:
    """{instant (the rows' _hoodie_commit_time): completion ms} for data commits completed since ``since_ms``."""
    out = {}
    for o in client.list_objects(bucket, prefix=f"bronze/{table}/.hoodie/timeline/"):
        m = COMMIT.match(o.object_name.rsplit("/", 1)[-1])
        if m and instant_ms(m.group(2)) >= since_ms:
            out[m.group(1)] = instant_ms(m.group(2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10, help="observe commits completed in the last N minutes "
                                                               "(waits that long first with --wait)")
    ap.add_argument("--wait", action="store_true", help="start the window now and wait for it to fill (use this "
                                                        "after a restart: a catch-up backlog is not freshness)")
    ap.add_argument("--tables", default=",".join(EVENT_TIME))
    a = ap.parse_args()

    from infra.credentials import load_credentials
    from infra.layout import Layout
    from infra.provision import minio_client
    from shared.settings import load_stack_settings
    from crypto_pipeline.resources.spark import default_jars_dir, local_session, spark_conf

    layout, settings = Layout(), load_stack_settings()
    creds = load_credentials(layout.env_file)
    client, bucket = minio_client(settings, creds), settings.minio.bucket
    since_ms = int(time.time() * 1000) - (0 if a.wait else int(a.minutes * 60_000))
    if a.wait:
        time.sleep(a.minutes * 60)
    conf = spark_conf(default_jars_dir(), settings.s3_endpoint, creds.minio_user, creds.minio_password, "local[1]", "1g", 2)
    conf["spark.ui.showConsoleProgress"] = "false"
    spark = local_session(conf, app_name="bench-bronze-freshness")
    spark.sparkContext.setLogLevel("ERROR")
    min_dt = time.strftime("%Y-%m-%d", time.gmtime(since_ms / 1000 - 86_400))  # partition pruning
    print(f"window: commits completed in the last {a.minutes:g} min (bucket {bucket})")
    print(f"{'table':<12} {'commits':>7} {'rows':>9} {'p50_s':>7} {'p95_s':>7} {'p99_s':>7} {'max_s':>7}  measured from")
    for table in a.tables.split(","):
        commits = completed_commits(client, bucket, table, since_ms)
        if not commits:
            print(f"{table:<12} {0:>7} (no commits in the window)")
            continue
        done = spark.createDataFrame(sorted(commits.items()), "instant string, completed_ms long")
        # only the files of the window's commits: a Hudi incremental query over their completion times
        rows = (spark.read.format("hudi").option("hoodie.datasource.query.type", "incremental")
                .option("hoodie.datasource.read.begin.instanttime", instant_stamp(min(commits.values()) - 1))
                .load(f"s3a://{bucket}/bronze/{table}")
                .where(f"dt >= '{min_dt}'").selectExpr("_hoodie_commit_time", f"{EVENT_TIME[table]} AS event_ms"))
        rows.createOrReplaceTempView("r")
        done.createOrReplaceTempView("c")
        q = spark.sql(f"""SELECT count(*) n, percentile(f, array(0.5, 0.95, 0.99)) p, max(f) mx FROM (
                            SELECT c.completed_ms - r.event_ms AS f FROM r JOIN c ON r._hoodie_commit_time = c.instant
                            WHERE r.event_ms IS NOT NULL)""").collect()[0]
        if not q["n"]:
            print(f"{table:<12} {len(commits):>7} {0:>9} (commits carried no rows)")
            continue
        p50, p95, p99 = (x / 1000 for x in q["p"])
        print(f"{table:<12} {len(commits):>7} {q['n']:>9} {p50:>7.1f} {p95:>7.1f} {p99:>7.1f} {q['mx'] / 1000:>7.1f}  "
              f"{'exchange event' if table != 'book_ticker' else 'ingest (no event time in bookTicker)'}")
        if table == "trades":
            print(f"trades freshness p95 {p95:.1f}s vs goal < 30 s: {'met' if p95 < 30 else 'NOT met'}")
    spark.stop()


if __name__ == "__main__":
    main()
