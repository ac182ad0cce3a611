"""./monitor.sh: one table with the state of the whole stack. Exit code 1 when any service is down."""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

from rich.console import Console
from rich.table import Table

from infra.credentials import load_credentials
from infra.health import dagster_graphql
from infra.layout import Layout
from infra.services import build_specs
from infra.supervisor import Supervisor, log_path
from shared.settings import StackSettings, load_stack_settings

OK, BAD, WARN = "[green]up[/]", "[red]DOWN[/]", "[yellow]warn[/]"


def _age(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def service_rows(layout: Layout, settings: StackSettings, creds) -> tuple[list[tuple], set[str]]:
    sup = Supervisor(layout)
    info = sup.info() if sup.running() else {}
    rows, up_names = [], set()
    now = time.time()
    for spec in build_specs(layout, settings, creds):
        p = info.get(spec.name)
        state = p["statename"] if p else "NOT RUNNING"
        reason = spec.health() if state == "RUNNING" else f"supervisor: {state}"
        up = reason is None
        if up:
            up_names.add(spec.name)
        detail = f"pid {p['pid']}  up {_age(now - p['start'])}" if p and p["pid"] else ""
        port = f"port {spec.port}" if spec.port else ""
        rows.append(("service", spec.name, OK if up else BAD,
                     "  ".join(x for x in (detail, port, "" if up else f"{reason}  (log {log_path(layout, spec.name)})") if x)))
    return rows, up_names


def kafka_rows(settings: StackSettings, creds) -> list[tuple]:
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    from infra.kafka_config import ADMIN_USER
    from infra.services import kafka_connection

    # the admin's login (./monitor.sh is run by the stack's owner, who holds .env): every topic and group
    conf = kafka_connection(settings, creds, ADMIN_USER).client_config(log_level=0)
    try:
        admin = AdminClient(conf)
        md = admin.list_topics(timeout=3)
    except Exception as exc:
        return [("kafka", "topics", BAD, str(exc))]
    consumer = Consumer({**conf, "group.id": "cdp-monitor", "enable.auto.commit": False})
    rows = []
    ends: dict[str, int] = {}
    try:
        for name in sorted(t for t in md.topics if not t.startswith("__")):
            parts = md.topics[name].partitions
            hi = sum(consumer.get_watermark_offsets(TopicPartition(name, p), timeout=3)[1] for p in parts)
            ends[name] = hi
            rows.append(("kafka topic", name, OK, f"{len(parts)} partition(s)  end offset {hi}"))
        try:
            groups = [g.group_id for g in admin.list_consumer_groups().result(timeout=5).valid]
        except Exception:
            groups = []
        for gid in sorted(groups):
            if gid == "cdp-monitor":
                continue
            from confluent_kafka import ConsumerGroupTopicPartitions
            res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(gid)])[gid].result(timeout=5)
            lag = 0
            for tp in res.topic_partitions:
                if tp.offset >= 0:
                    lag += consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=3)[1] - tp.offset
            rows.append(("kafka group", gid, OK, f"lag {lag} message(s)"))
    finally:
        consumer.close()
    if not rows:
        rows.append(("kafka topic", "-", WARN, "no topics yet (the streaming service creates them)"))
    return rows


def minio_rows(settings: StackSettings, creds) -> list[tuple]:
    from infra.provision import minio_client

    try:
        client = minio_client(settings, creds)
        newest: dict[str, datetime] = {}
        count = size = 0
        for obj in client.list_objects(settings.minio.bucket, recursive=True):
            count += 1
            size += obj.size or 0
            parts = obj.object_name.split("/", 2)
            # layers, and each gold table on its own (gold/<table>/...): which analytics are behind
            for key in (parts[0], "/".join(parts[:2]) if parts[0] == "gold" and len(parts) > 2 else None):
                if key and obj.last_modified and (key not in newest or obj.last_modified > newest[key]):
                    newest[key] = obj.last_modified
    except Exception as exc:
        return [("minio", settings.minio.bucket, BAD, str(exc)[:120])]
    rows = [("minio bucket", settings.minio.bucket, OK, f"{count} object(s)  {size / 1e6:.1f} MB")]
    now = datetime.now(timezone.utc)
    for layer in ("bronze", "silver", "gold"):
        if layer in newest:
            rows.append(("freshness", layer, OK, f"last write {_age((now - newest[layer]).total_seconds())} ago"))
        else:
            rows.append(("freshness", layer, WARN, "not built yet"))
    rows += [("freshness", key, OK, f"last write {_age((now - t).total_seconds())} ago")
             for key, t in sorted(newest.items()) if key.startswith("gold/")]
    return rows


def dagster_rows(settings: StackSettings) -> list[tuple]:
    q = "{ runsOrError(limit: 5) { ... on Runs { results { runId jobName status startTime } } } }"
    try:
        runs = dagster_graphql(f"http://{settings.bind_host}:{settings.dagster.port}", q)["data"]["runsOrError"]["results"]
    except Exception as exc:
        return [("dagster runs", "-", BAD, str(exc)[:120])]
    if not runs:
        return [("dagster runs", "-", OK, "no runs yet")]
    def when(r: dict) -> str:
        return f"{datetime.fromtimestamp(r['startTime'], timezone.utc):%Y-%m-%d %H:%M:%S}Z" if r.get("startTime") else ""

    return [("dagster run", r["runId"][:8], OK if r["status"] in ("SUCCESS", "STARTED", "QUEUED", "STARTING") else WARN,
             f"{r['jobName']}  {r['status']}  {when(r)}".rstrip())
            for r in runs]


def streaming_rows(settings: StackSettings) -> list[tuple]:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{settings.bind_host}:{settings.streaming.metrics_port}/status", timeout=3) as r:
            st = json.loads(r.read())
    except Exception as exc:
        return [("streaming", "status", BAD, str(exc)[:120])]
    return streaming_status_rows(st)


def streaming_status_rows(st: dict) -> list[tuple]:
    """Rows for the streaming service's /status: source, throughput, health thresholds, skipped symbols."""
    src = st.get("source", "?")
    flag = WARN if st.get("simulated") else OK
    dlq = sum((st.get("dlq") or {}).values())
    rows = [
        ("streaming", "source", flag, f"{src}{'  (SIMULATED data)' if st.get('simulated') else ''}  {st.get('source_reason', '')}"[:110]),
        ("streaming", "throughput", OK if st.get("kafka_ok") else BAD,
         f"delivered {st.get('delivered', 0)}  failed {st.get('delivery_failed', 0)}  buffer {st.get('buffer_depth', 0)}  "
         f"dlq {dlq}  reconnects {st.get('reconnects', 0)}  backfill req {st.get('backfill_requests', 0)}  "
         f"awaiting redelivery {st.get('undelivered_pending', 0)}"),
    ]
    problems = st.get("health_problems") or []
    rows.append(("streaming", "health", WARN if problems else OK,
                 "; ".join(problems)[:200] if problems else "within the health: thresholds of config/streaming.yaml"))
    for sym, reason in (st.get("symbols_unavailable") or {}).items():
        rows.append(("streaming", f"symbol {sym}", WARN, f"skipped: {reason}"[:120]))
    if st.get("state") == "running" and not st.get("symbols_checked", True):
        rows.append(("streaming", "symbols", WARN, "exchangeInfo was not readable at start: symbols not checked"))
    return rows


def serving_rows(settings: StackSettings, creds) -> list[tuple]:
    """Freshness of the serving database, read as the read-only role: each sync's last run and the live
    latest_ticker (newest row, and its event -> row lag)."""
    from serving.db import READER_ROLE, ServingDsn

    dsn = ServingDsn(settings.bind_host, settings.postgres.port, settings.postgres.serving_db, READER_ROLE,
                     creds.serving_reader_password)
    try:
        with dsn.connect(autocommit=True, application_name="monitor") as conn:
            syncs = conn.execute("select table_name, extract(epoch from now() - synced_at), rows_last_sync "
                                 "from sync_state order by table_name").fetchall()
            tick = conn.execute("select count(*), extract(epoch from now() - max(updated_at)), "
                                "max(extract(epoch from updated_at) * 1000 - event_time_ms) filter "
                                "(where updated_at > now() - interval '1 minute') from latest_ticker").fetchone()
    except Exception as exc:
        return [("serving", "-", BAD, str(exc)[:120])]
    rows = [("freshness", f"serving {t}", OK, f"synced {_age(age)} ago, {n} row(s) changed")
            for t, age, n in syncs] or [("freshness", "serving", WARN, "no sync yet")]
    n, age, lag = tick
    if not n:
        rows.append(("freshness", "latest_ticker", WARN, "no ticker yet"))
    else:
        rows.append(("freshness", "latest_ticker", OK if age < 60 else WARN,
                     f"{n} symbol(s), newest {_age(age)} ago" + (f", event->row {lag:.0f} ms (max, 1 min)" if lag else "")))
    return rows


def snapshot(layout: Layout) -> tuple[Table, bool]:
    settings = load_stack_settings()
    creds = load_credentials(layout.env_file)
    rows, up = service_rows(layout, settings, creds)
    expected = {spec.name for spec in build_specs(layout, settings, creds)}
    sections = (("kafka", lambda: kafka_rows(settings, creds)), ("minio", lambda: minio_rows(settings, creds)),
                ("streaming", lambda: streaming_rows(settings)), ("postgres", lambda: serving_rows(settings, creds)),
                ("dagster-webserver", lambda: dagster_rows(settings)))
    for service, rows_of in sections:
        rows += rows_of() if service in up else [(service, "-", WARN, f"skipped: {service} is down")]
    all_up = up == expected
    table = Table(title=f"crypto-data-pipeline  {datetime.now():%H:%M:%S}", show_lines=False)
    for col in ("what", "name", "status", "details"):
        table.add_column(col)
    for r in rows:
        table.add_row(*r)
    return table, all_up


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="monitor.sh", description=__doc__)
    ap.add_argument("--watch", nargs="?", const=5.0, type=float, metavar="SECONDS", help="refresh every N s (default 5)")
    args = ap.parse_args(argv)
    console = Console()
    layout = Layout()
    try:
        if not args.watch:
            table, ok = snapshot(layout)
            console.print(table)
            return 0 if ok else 1
        while True:
            table, _ = snapshot(layout)
            console.clear()
            console.print(table)
            time.sleep(args.watch)
    except FileNotFoundError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
