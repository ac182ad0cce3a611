"""Source selection: auto falls back to the simulator (loudly) when Binance is unreachable."""
import asyncio
import logging

from shared.envelope import Source
from streaming.config import load_streaming_settings
from streaming.source import choose_source


def test_auto_falls_back_to_simulator_and_says_so(caplog):
    s = load_streaming_settings(env={"STREAM_SOURCE": "auto", "BINANCE_REST_URL": "http://127.0.0.1:9",
                                     "SIMULATOR_WS_URL": "ws://127.0.0.1:1234"})
    s.auto_probe_timeout_s = 1
    with caplog.at_level(logging.WARNING):
        c = asyncio.run(choose_source(s))
    assert c.name == "simulator" and c.record_source is Source.SIMULATOR and c.ws_url == "ws://127.0.0.1:1234"
    assert "binance unreachable" in c.reason
    assert any("SIMULATED DATA" in r.getMessage() for r in caplog.records)


def test_configured_sources_map_to_record_sources():
    for name, src in (("simulator", Source.SIMULATOR), ("replay", Source.REPLAY), ("binance", Source.BINANCE)):
        s = load_streaming_settings(env={"STREAM_SOURCE": name, "REPLAY_WS_URL": "ws://h:1", "REPLAY_REST_URL": "http://h:1"})
        c = asyncio.run(choose_source(s))
        assert c.record_source is src and c.reason == "configured"
    s = load_streaming_settings(env={"STREAM_SOURCE": "binance"})
    assert asyncio.run(choose_source(s)).ws_url == "wss://stream.binance.com:9443"


def test_client_ssl_trusts_only_the_given_ca(tmp_path):
    import ssl

    import pytest

    from binance_sim.tls import ensure_certificates
    from streaming.source import client_ssl

    assert client_ssl(None) is True  # system CAs
    ctx = client_ssl(str(ensure_certificates(tmp_path).ca))
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "crypto-data-pipeline local CA"),),)]
    with pytest.raises(ValueError, match="does not exist"):
        client_ssl(str(tmp_path / "nope.pem"))
