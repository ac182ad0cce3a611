"""The streaming service's TLS path (wss:// streams and https:// REST backfill to a simulator serving the
deploy-made certificate, trusted through `simulator.ca_file` only) and the start-up exchangeInfo check: an
unknown and a halted symbol are skipped with an error, a metric and a /status entry; the others run."""
from __future__ import annotations

import dataclasses
import urllib.request

import orjson
from confluent_kafka.admin import AdminClient

from binance_sim import SimConfig, SymbolSpec, run_in_thread
from binance_sim.tls import ensure_certificates
from shared.envelope import topic_for
from tests.integration.streaming.conftest import ServiceThread, assert_dense, stream_records, symbols_yaml


def test_tls_ingest_and_backfill_with_unknown_and_halted_symbols_skipped(kafka_stack, tmp_path, monkeypatch):
    boot = kafka_stack.settings.kafka_bootstrap
    tls = ensure_certificates(tmp_path / "tls")
    halted = dataclasses.replace(SymbolSpec.default("HALTUSDT", rate=50), status="BREAK")
    sim = run_in_thread(SimConfig(symbols=[SymbolSpec.default("TLSUSDT", rate=150), halted],
                                  tls_cert=str(tls.cert), tls_key=str(tls.key)))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))  # the test's own control calls (urllib) trust the CA too
    assert sim.ws_url.startswith("wss://") and sim.rest_url.startswith("https://")
    symbols = symbols_yaml(tmp_path, {"TLSUSDT": ["trade"], "HALTUSDT": ["trade"], "NOPEUSDT": ["trade"]})
    try:
        svc = ServiceThread(boot, sim, symbols, overrides={"simulator.ca_file": str(tls.ca)})
        st = svc.status()
        assert st["symbols"] == ["TLSUSDT"] and st["symbols_checked"] is True
        assert st["symbols_unavailable"] == {"HALTUSDT": "not trading: exchangeInfo status BREAK",
                                             "NOPEUSDT": "unknown symbol: not listed in exchangeInfo"}
        svc.wait(lambda: svc.status()["streams"]["tlsusdt@trade"]["out_live"] >= 300, 30, "trades over wss")
        sim.control.arm_next(skip_every=40)  # the next connection loses frames: gaps filled over https
        sim.control.disconnect_all()
        svc.wait(lambda: svc.status()["streams"]["tlsusdt@trade"]["out_backfill"] >= 5
                 and svc.status()["streams"]["tlsusdt@trade"]["held"] == 0, 60, "REST backfill over https")
        base = f"http://127.0.0.1:{svc.svc.metrics_port}"
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            metrics = r.read().decode()
        with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
            health = orjson.loads(r.read())
        with urllib.request.urlopen(base + "/livez", timeout=5) as r:
            assert orjson.loads(r.read()) == {"state": "running"}
        assert svc.stop() == 0
        final = svc.status()["streams"]["tlsusdt@trade"]
    finally:
        sim.stop()
    assert 'streaming_symbol_unavailable{reason="unknown symbol: not listed in exchangeInfo",symbol="NOPEUSDT"} 1.0' \
        in metrics
    assert 'symbol="HALTUSDT"} 1.0' in metrics
    assert health["healthy"] is True and "HALTUSDT" in health["symbols_unavailable"]
    ids = [e["payload"]["t"] for e in stream_records(boot, "TLSUSDT", "tlsusdt@trade")]
    assert_dense(ids, "trade ids over TLS")
    assert final["gaps_filled"] >= 1 and final["missing_unfilled"] == 0
    topics = AdminClient({"bootstrap.servers": boot}).list_topics(timeout=10).topics
    assert topic_for("TLSUSDT") in topics and topic_for("NOPEUSDT") not in topics and topic_for("HALTUSDT") not in topics
