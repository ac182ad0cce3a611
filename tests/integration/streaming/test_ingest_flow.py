"""Simulator → service → Kafka on the shared session broker."""
from __future__ import annotations

import time
import urllib.request

import orjson

from tests.integration.streaming.conftest import (ServiceThread, assert_dense, read_topic, start_sim, stream_records,
                                                  symbols_yaml)


def rest(sim, path: str):
    with urllib.request.urlopen(sim.rest_url + path, timeout=10) as r:
        return orjson.loads(r.read())


def test_n_in_n_out_in_order_and_identical_to_exchange(kafka_stack, tmp_path):
    boot = kafka_stack.settings.kafka_bootstrap
    sim = start_sim({"NINUSDT": 150})
    try:
        svc = ServiceThread(boot, sim, symbols_yaml(tmp_path, {"NINUSDT": ["trade", "aggTrade", "bookTicker",
                                                                           "kline_1s", "depth5"]}))
        svc.wait(lambda: svc.status()["streams"]["ninusdt@trade"]["out_live"] >= 600, 30, "600 trades")
        assert svc.stop() == 0
        st = svc.svc.pipeline.stats()
        truth = {r["id"]: r for r in rest(sim, "/api/v3/historicalTrades?symbol=NINUSDT&limit=1000&fromId=1")}
    finally:
        sim.stop()
    msgs = read_topic(boot, "crypto_raw_ninusdt")
    by_key: dict[bytes, list[dict]] = {}
    for m in msgs:
        by_key.setdefault(m.key(), []).append(orjson.loads(m.value()))
    # N in -> N out, per stream (nothing invented, nothing lost between the socket and the broker)
    for stream, s in st.items():
        assert len(by_key.get(stream.encode(), [])) == s["out_live"] + s["out_backfill"], stream
        assert s["in"] == s["out_live"] + s["duplicates"], stream
    trades = by_key[b"ninusdt@trade"]
    ids = [e["payload"]["t"] for e in trades]
    assert_dense(ids, "trade ids")
    assert len(ids) >= 600
    for e in trades:  # the payload is the exchange's, untouched, and the envelope says where it came from
        r = truth.get(e["payload"]["t"])
        if r is not None:
            assert (e["payload"]["p"], e["payload"]["q"], e["payload"]["T"]) == (r["price"], r["qty"], r["time"])
        assert e["source"] == "simulator" and e["symbol"] == "NINUSDT" and e["event_type"] == "trade"
    assert_dense([e["payload"]["a"] for e in by_key[b"ninusdt@aggTrade"]], "aggTrade ids")
    upd = [e["payload"]["u"] for e in by_key[b"ninusdt@bookTicker"]]
    assert upd == sorted(upd) and len(upd) == len(set(upd))
    ev = [(e["payload"]["k"]["t"], e["payload"]["E"]) for e in by_key[b"ninusdt@kline_1s"]]
    assert ev == sorted(ev) and len(ev) >= 3


def test_five_disconnects_no_missing_no_duplicate_trades(kafka_stack, tmp_path):
    boot = kafka_stack.settings.kafka_bootstrap
    sim = start_sim({"DISUSDT": 120})
    try:
        sim.control.arm_next(count=5, drop_after_messages=150)   # the first 5 connections die early
        svc = ServiceThread(boot, sim, symbols_yaml(tmp_path, {"DISUSDT": ["trade", "aggTrade", "kline_1s"]}),
                            overrides={"connection.backoff_base_s": 0.2})
        svc.wait(lambda: svc.status()["reconnects"] >= 5, 60, "5 reconnects")
        svc.wait(lambda: svc.status()["connections_open"] == 1, 30, "a healthy connection")
        time.sleep(2)
        st = svc.status()["streams"]
        assert svc.stop() == 0
    finally:
        sim.stop()
    assert st["disusdt@trade"]["gaps_found"] >= 1 and st["disusdt@trade"]["out_backfill"] > 0
    assert st["disusdt@trade"]["missing_unfilled"] == 0
    trades = stream_records(boot, "DISUSDT", "disusdt@trade")
    assert_dense([e["payload"]["t"] for e in trades], "trade ids")
    assert {e["source"] for e in trades} == {"simulator", "rest_backfill"}
    assert_dense([e["payload"]["a"] for e in stream_records(boot, "DISUSDT", "disusdt@aggTrade")], "aggTrade ids")


def test_dropped_duplicated_reordered_frames_and_rollovers(kafka_stack, tmp_path):
    """Lost frames without a disconnect, duplicates, swaps, a proactive rollover every 3 s with overlap
    and a serverShutdown: the trade topic still holds every id exactly once, in order."""
    boot = kafka_stack.settings.kafka_bootstrap
    sim = start_sim({"FLTUSDT": 100})
    try:
        sim.control.set_default(skip_every=37, duplicate_every=23, reorder_every=41)
        svc = ServiceThread(boot, sim, symbols_yaml(tmp_path, {"FLTUSDT": ["trade", "aggTrade"]}),
                            overrides={"connection.max_age_s": 3, "connection.overlap_s": 1})
        time.sleep(5)
        sim.control.server_shutdown_event()
        svc.wait(lambda: svc.svc.reconnects.get((0, "server_shutdown"), 0) >= 1, 20, "serverShutdown rollover")
        svc.wait(lambda: svc.svc.reconnects.get((0, "max_age"), 0) >= 2, 20, "2 max_age rollovers")
        time.sleep(1)
        st = svc.status()["streams"]["fltusdt@trade"]
        assert svc.stop() == 0
    finally:
        sim.stop()
    assert st["gaps_found"] >= 3 and st["duplicates"] >= 3 and st["missing_unfilled"] == 0
    assert_dense([e["payload"]["t"] for e in stream_records(boot, "FLTUSDT", "fltusdt@trade")], "trade ids")
    assert_dense([e["payload"]["a"] for e in stream_records(boot, "FLTUSDT", "fltusdt@aggTrade")], "aggTrade ids")


def test_malformed_frames_go_to_dlq_and_good_data_keeps_flowing(kafka_stack, tmp_path):
    boot = kafka_stack.settings.kafka_bootstrap
    t0_ms = time.time() * 1000  # crypto_dlq is shared with the session's other tests (e.g. the fuzz run's frames)
    sim = start_sim({"BADUSDT": 80})
    try:
        kinds = ["invalid_json", "wrong_types", "missing_fields", "oversized"]
        sim.control.arm_next(count=1, malformed=kinds[0], malformed_after=20, malformed_count=3,
                             drop_after_messages=200)
        for k in kinds[1:]:
            sim.control.arm_next(count=1, malformed=k, malformed_after=20, malformed_count=2, drop_after_messages=200)
        svc = ServiceThread(boot, sim, symbols_yaml(tmp_path, {"BADUSDT": ["trade"]}),
                            overrides={"connection.backoff_base_s": 0.2})
        svc.wait(lambda: svc.status()["reconnects"] >= 4, 60, "all malformed connections used")
        time.sleep(2)
        status = svc.status()
        assert svc.stop() == 0
    finally:
        sim.stop()
    dlq = [orjson.loads(m.value()) for m in read_topic(boot, "crypto_dlq")]
    mine = [d for d in dlq if d["stream"] in (None, "badusdt@trade") and d["ingest_time_ms"] >= t0_ms]
    reasons = {d["reason"] for d in mine}
    assert {"invalid_json", "schema_violation", "oversized_frame"} <= reasons, reasons
    assert sum(status["dlq"].values()) >= 9
    for d in mine:
        assert d["raw_size"] > 0 and d["raw_b64"] and d["detail"]
    assert_dense([e["payload"]["t"] for e in stream_records(boot, "BADUSDT", "badusdt@trade")], "trade ids")
