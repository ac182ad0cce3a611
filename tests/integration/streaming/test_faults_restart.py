"""Destructive and process-level tests: broker down 30 s (own LocalStack), SIGTERM flush + restart with a
symbol added to symbols.yaml (the real CLI as a subprocess)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import orjson

from infra.layout import Layout
from tests.integration.streaming.conftest import (ServiceThread, assert_dense, read_topic, start_sim, stream_records,
                                                  symbols_yaml)

ROOT = Layout().root


def test_broker_down_30s_then_back_nothing_lost(own_stack, tmp_path):
    boot = own_stack.settings.kafka_bootstrap
    sim = start_sim({"OUTUSDT": 100})
    try:
        svc = ServiceThread(boot, sim, symbols_yaml(tmp_path, {"OUTUSDT": ["trade", "bookTicker"]}))
        svc.wait(lambda: svc.status()["delivered"] > 200, 30, "deliveries")
        own_stack.stop("kafka")
        t0 = time.time()
        time.sleep(30)
        during = svc.status()
        assert during["buffer_depth"] > 1000, "records must wait in the bounded buffer while the broker is down"
        own_stack.start("kafka")
        print(f"broker down for {time.time() - t0:.0f}s, buffered {during['buffer_depth']}")
        svc.wait(lambda: svc.status()["buffer_depth"] < 50, 90, "buffer drained after the broker returned")
        assert svc.stop() == 0
        st = svc.status()  # after the stop: the counters are final (the service produced until it stopped)
    finally:
        sim.stop()
    assert st["delivery_failed"] == 0
    trades = stream_records(boot, "OUTUSDT", "outusdt@trade")
    ids = [e["payload"]["t"] for e in trades]
    assert_dense(ids, "trade ids")
    assert len(ids) == st["streams"]["outusdt@trade"]["out_live"] + st["streams"]["outusdt@trade"]["out_backfill"]
    assert len(ids) > 3000  # > 30 s at 100/s: the outage window is in there


def _run_cli(boot: str, sim, symbols_file, port_file) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": boot, "SIMULATOR_WS_URL": sim.ws_url,
           "SIMULATOR_REST_URL": sim.rest_url, "STREAM_SOURCE": "simulator", "ACTIVE_SYMBOLS": "",
           "STREAMING_POSITIONS_FILE": str(symbols_file.parent / "positions.json")}
    return subprocess.Popen([sys.executable, "-m", "streaming", "--symbols", str(symbols_file), "--metrics-port", "0",
                             "--log-level", "INFO"], cwd=ROOT, env=env, stdout=open(port_file, "wb"),
                            stderr=subprocess.STDOUT)


def _status(log_file) -> dict | None:
    for line in log_file.read_text().splitlines():
        if '"metrics endpoint up"' in line:
            url = orjson.loads(line)["url"].replace("/metrics", "/status")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    return orjson.loads(r.read())
            except OSError:
                return None
    return None


def _wait(cond, timeout, what):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.3)


def test_sigterm_flushes_and_added_symbol_fills_its_topic_after_restart(kafka_stack, tmp_path):
    boot = kafka_stack.settings.kafka_bootstrap
    sim = start_sim({"RSTUSDT": 100, "NEWUSDT": 50})
    log1, log2 = tmp_path / "run1.log", tmp_path / "run2.log"
    try:
        f = symbols_yaml(tmp_path, {"RSTUSDT": ["trade"]})
        p = _run_cli(boot, sim, f, log1)
        _wait(lambda: (_status(log1) or {}).get("delivered", 0) > 300, 60, "first run delivers")
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0, log1.read_text()[-3000:]
        assert '"stopped cleanly"' in log1.read_text()
        time.sleep(3)  # trades happen while the service is down
        symbols_yaml(tmp_path, {"RSTUSDT": ["trade"], "NEWUSDT": ["trade", "aggTrade"]})  # edit + restart
        p = _run_cli(boot, sim, f, log2)
        _wait(lambda: (_status(log2) or {}).get("streams", {}).get("newusdt@trade", {}).get("out_live", 0) > 50,
              60, "new symbol flows")
        p.send_signal(signal.SIGINT)
        assert p.wait(60) == 0, log2.read_text()[-3000:]
    finally:
        sim.stop()
    new = stream_records(boot, "NEWUSDT", "newusdt@trade")
    assert len(new) > 50 and all(e["symbol"] == "NEWUSDT" for e in new)
    assert_dense([e["payload"]["t"] for e in new], "new symbol trade ids")
    # the restart resumed from Kafka: the downtime was backfilled and nothing was published twice
    old = stream_records(boot, "RSTUSDT", "rstusdt@trade")
    assert_dense([e["payload"]["t"] for e in old], "trade ids across the restart")
    assert any(e["source"] == "rest_backfill" for e in old)
    assert '"resumed stream positions from Kafka"' in log2.read_text()
