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
