"""The bronze-writer's reports to Dagster (a fake webserver records the REST calls) and its settings (its
health answer: test_writer_health.py)."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crypto_pipeline.bronze.checks import Outcome
from crypto_pipeline.bronze.job import RunResult, TableResult
from crypto_pipeline.bronze.loop import Cycle
from crypto_pipeline.bronze.report import DagsterEvents, Reporter
from crypto_pipeline.bronze.service import WriterConfig
from crypto_pipeline.lakehouse.offsets import Plan


class FakeWebserver:
    def __init__(self):
        self.calls, self.down, self.delay_s = [], False, 0.0
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                time.sleep(outer.delay_s)
                if outer.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append((self.path, body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture()
def web():
    w = FakeWebserver()
    yield w
    w.server.shutdown()


def _cycle(full, tables, seconds, phases):
    ckpt = {n: {"crypto_raw_btcusdt": {0: 10}} for n in tables}
    plan = Plan(start={}, end={}, table_from=ckpt, table_checkpoint=ckpt, previous={})
    return Cycle(0, full, RunResult(plan, 10, tables, 1_000_000, seconds, phases=phases), 0)


def test_report_posts_one_runless_materialisation_per_table_with_rows_offsets_latency(web):
    rep = Reporter(DagsterEvents(web.url), every_s=3600)
    rep(_cycle(False, {"trades": TableResult(rows=5, max_event_ms=999_000, write_s=1.0, inserted=True,
                                              partitions=[{"symbol": "BTCUSDT", "dt": "2026-11-29"}])}, 3.0,
               {"plan": 0.5, "read": 0.5, "prepare": 1.0, "write": 1.0}))
    rep(_cycle(False, {"trades": TableResult(rows=7, max_event_ms=999_500, write_s=4.0, inserted=True)}, 9.0,
               {"plan": 0.5, "read": 0.5, "prepare": 1.0, "write": 7.0}))
    rep(_cycle(True, {"klines": TableResult(rows=3, max_event_ms=990_000, write_s=6.0, inserted=False),
                      "book_ticker": TableResult(rows=40, write_s=2.0, inserted=True)}, 20.0,
               {"plan": 1.0, "read": 4.0, "prepare": 9.0, "write": 6.0}))
    rep.flush()
    assert "fast p50 6.0s max 9.0s [plan 0.5 read 0.5 prepare 1.0 write 7.0]" in rep.last_line
    assert "slow 20.0s [plan 1.0 read 4.0 prepare 9.0 write 6.0] (klines 6.0s, book_ticker 2.0s)" in rep.last_line
    meta = {path: body["metadata"] for path, body in web.calls}
    trades = meta["/report_asset_materialization/bronze_trades"]
    assert trades["rows_written"] == 12 and trades["commits"] == 2 and trades["upsert_commits"] == 0
    assert trades["freshness_at_commit_max_ms"] == 1_000 and trades["writer"] == "bronze-writer"
    assert trades["kafka_checkpoint"] == {"v": 1, "offsets": {"crypto_raw_btcusdt": {"0": 10}}}
    assert meta["/report_asset_materialization/bronze_klines"]["upsert_commits"] == 1
    written = rep.take_written()
    assert written["trades"].rows == 12 and written["trades"].partitions == {("BTCUSDT", "2026-11-29")}
    assert written["trades"].freshness_lag_ms == 500            # the newest commit's lag
    assert rep.take_written() == {}                             # each call takes what came since the last


def test_events_wait_while_the_webserver_is_down_and_go_in_order(web):
    ev = DagsterEvents(web.url)
    web.down = True
    ev.check(Outcome("bronze_trades", "freshness", True, "WARN", {"lag_ms": 5}))
    ev.materialization("bronze_trades", {"rows_written": 1})
    assert web.calls == [] and len(ev.pending) == 2 and "503" in ev.last_error
    web.down = False
    assert ev.flush() == 0
    assert [p for p, _ in web.calls] == ["/report_asset_check/bronze_trades",
                                          "/report_asset_materialization/bronze_trades"]
    assert web.calls[0][1] == {"check_name": "freshness", "passed": True, "severity": "WARN", "metadata": {"lag_ms": 5}}


def test_settings_name_the_bad_variable():
    base = {"KAFKA_BOOTSTRAP_SERVERS": "k:1", "S3_ENDPOINT": "http://s", "S3_ACCESS_KEY": "u",
            "S3_SECRET_KEY": "p", "MINIO_BUCKET": "b", "DAGSTER_URL": "http://d"}
    cfg = WriterConfig.from_env(base)
    assert cfg.loop.fast_interval_s == 5 and cfg.health_port == 9110 and not cfg.accept_data_loss
    assert cfg.loop.java_client and not WriterConfig.from_env({**base, "BRONZE_JAVA_CLIENT": "false"}).loop.java_client
    assert cfg.loop.jvm_parse and not WriterConfig.from_env({**base, "BRONZE_JVM_PARSE": "false"}).loop.jvm_parse
    with pytest.raises(ValueError, match="BRONZE_FAST_INTERVAL_S='soon'"):
        WriterConfig.from_env({**base, "BRONZE_FAST_INTERVAL_S": "soon"})
    with pytest.raises(ValueError, match="BRONZE_ACCEPT_DATA_LOSS='maybe': expected true/false"):
        WriterConfig.from_env({**base, "BRONZE_ACCEPT_DATA_LOSS": "maybe"})
    with pytest.raises(ValueError, match="BRONZE_JAVA_CLIENT='java'"):
        WriterConfig.from_env({**base, "BRONZE_JAVA_CLIENT": "java"})
    with pytest.raises(ValueError, match="BRONZE_JVM_PARSE='yes please'"):
        WriterConfig.from_env({**base, "BRONZE_JVM_PARSE": "yes please"})
    with pytest.raises(KeyError, match="DAGSTER_URL"):
        WriterConfig.from_env({k: v for k, v in base.items() if k != "DAGSTER_URL"})


def test_cycles_reported_while_another_thread_flushes_never_break_the_report(web):
    """The fast loop reports cycles while the slow loop's check evaluation flushes (it once failed a cycle
    with 'dictionary changed size during iteration': a table added to the window while a flush posted)."""
    web.delay_s = 0.002
    rep = Reporter(DagsterEvents(web.url), every_s=3600)
    errors, stop = [], threading.Event()

    def flusher():
        try:
            while not stop.is_set():
                rep.flush()
                rep.take_written()
        except Exception as e:  # noqa: BLE001 - what the test looks for
            errors.append(e)

    t = threading.Thread(target=flusher)
    t.start()
    try:
        for i in range(300):
            tables = {f"{n}": TableResult(rows=1, max_event_ms=999_000, write_s=0.1, inserted=True)
                      for n in ("trades", "agg_trades", "klines", "tickers", "depth", "book_ticker")[: 1 + i % 6]}
            rep(_cycle(i % 2 == 0, tables, 0.1, {"write": 0.1}))
            time.sleep(0.001)   # a cycle takes time: the flushing thread gets to run in between
    finally:
        stop.set()
        t.join()
    assert errors == []
