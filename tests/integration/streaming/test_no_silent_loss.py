"""No silent loss: the broker is killed (SIGKILL) for longer than the producer's message timeout while the
service ingests from the simulator; the failed records go to the ledgers and are refilled when Kafka is back.
Then the service is restarted with a Kafka tail that cannot tell its position (resume_scan=0): it resumes from
the positions file and backfills its own downtime. Kafka ends with every trade and aggTrade id exactly once."""
from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request

import pytest


from tests.integration.streaming.conftest import ServiceThread, start_sim, stream_records, symbols_yaml


def _dense_once(ids: list[int], what: str) -> None:
    assert ids, f"no {what}"
    dup = len(ids) - len(set(ids))
    assert dup == 0, f"{what}: {dup} duplicates"
    missing = sorted(set(range(min(ids), max(ids) + 1)) - set(ids))
    assert not missing, f"{what}: {len(missing)} missing, e.g. {missing[:10]}"


def test_broker_killed_past_timeouts_then_restart_without_kafka_position(own_stack, tmp_path):
    import logging
    logging.getLogger("streaming.redelivery").setLevel(logging.INFO)
    boot = own_stack.settings.kafka_bootstrap
    sim = start_sim({"KILLUSDT": 100})
    symbols = symbols_yaml(tmp_path, {"KILLUSDT": ["trade", "aggTrade"]})
    fast = {"kafka.message_timeout_s": 5, "kafka.redeliver_interval_s": 2, "kafka.flush_timeout_s": 20}
    try:
        svc = ServiceThread(boot, sim, symbols, overrides=fast)
        svc.wait(lambda: svc.status()["delivered"] > 300, 30, "deliveries")
        os.killpg(own_stack.procs.pop("kafka").pid, signal.SIGKILL)
        time.sleep(20)  # 4x the message timeout: records fail instead of waiting
        during = svc.status()
        assert during["delivery_failed"] > 0, "the broker outage must outlast the producer's timeout"
        assert during["undelivered_pending"] > 0, "failed records must be in the ledger, not forgotten"
        assert during["healthy"] is False  # /healthz is 503 and says why; the process itself is alive
        assert any("Kafka delivery failures" in p for p in during["health_problems"]), during["health_problems"]
        base = f"http://127.0.0.1:{svc.svc.metrics_port}"
        with pytest.raises(urllib.error.HTTPError) as e503:
            urllib.request.urlopen(base + "/healthz", timeout=5)
        assert e503.value.code == 503 and b"delivery failures" in e503.value.read()
        assert urllib.request.urlopen(base + "/livez", timeout=5).status == 200
        own_stack.start("kafka")
        svc.wait(lambda: svc.status()["undelivered_pending"] == 0 and svc.status()["redelivered"] > 0, 120,
                 "undelivered records refilled")
        svc.wait(lambda: svc.status()["buffer_depth"] < 50, 60, "buffer drained")
        assert svc.stop() == 0
        first = svc.status()
        time.sleep(8)  # service down: ~800 trades happen meanwhile
        # the Kafka tail cannot tell the position (scan nothing): the positions file must, and the downtime
        # becomes a backfilled gap instead of a silent fresh start
        svc2 = ServiceThread(boot, sim, symbols, overrides={**fast, "kafka.resume_scan": 0})
        assert svc2.status()["resumed"] == {"kafka": 0, "file": 2, "fresh": 0}
        svc2.wait(lambda: all(s["out_backfill"] > 400 and s["held"] == 0 and s["gaps_filled"] >= 1
                              for s in svc2.status()["streams"].values()), 60, "downtime backfilled")
        assert svc2.stop() == 0
    finally:
        sim.stop()
    for stream, field in (("killusdt@trade", "t"), ("killusdt@aggTrade", "a")):
        recs = stream_records(boot, "KILLUSDT", stream)
        ids = [e["payload"][field] for e in recs]
        _dense_once(ids, stream)
        assert len(ids) > 2000
    assert first["streams"]["killusdt@trade"]["redelivered"] > 0
    assert first["streams"]["killusdt@trade"]["missing_unfilled"] == 0
