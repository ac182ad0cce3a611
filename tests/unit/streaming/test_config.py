"""symbols.yaml / streaming.yaml validation: errors name the file, the entry and the value."""
from pathlib import Path

import pytest

from shared.settings import SettingsError
from shared.symbols import SYMBOLS_FILE, load_symbols
from streaming.config import load_streaming_settings

BASE = SYMBOLS_FILE.read_text()


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "symbols.yaml"
    p.write_text(text)
    return p


def test_repo_file_is_valid_and_resolves_tier_streams():
    cfg = load_symbols(env={})
    by = cfg.by_symbol()
    assert "BTCUSDT" in by and "ADAUSDT" not in by  # disabled entries are not active
    assert by["BTCUSDT"].stream_names[0] == "btcusdt@trade"
    assert [a.priority for a in cfg.active] == sorted(a.priority for a in cfg.active)


def test_unknown_stream_names_file_entry_and_value(tmp_path):
    p = write(tmp_path, BASE.replace("{symbol: BNBUSDT, tier: tier2, enabled: true}",
                                     "{symbol: BNBUSDT, tier: tier2, streams: [trade, kline_7m]}"))
    with pytest.raises(SettingsError) as e:
        load_symbols(p, env={})
    msg = str(e.value)
    assert str(p) in msg and "symbols[2] (BNBUSDT)" in msg and "kline_7m" in msg


def test_unknown_tier_and_duplicate_symbol(tmp_path):
    p = write(tmp_path, BASE.replace("{symbol: SOLUSDT, tier: tier2", "{symbol: SOLUSDT, tier: gold"))
    with pytest.raises(SettingsError, match=r"symbols\[3\] \(SOLUSDT\): tier 'gold'"):
        load_symbols(p, env={})
    p = write(tmp_path, BASE.replace("{symbol: SOLUSDT,", "{symbol: BTCUSDT,"))
    with pytest.raises(SettingsError, match="duplicate symbol"):
        load_symbols(p, env={})


@pytest.mark.parametrize("entry,needle", [
    ("{symbol: btcusdt, tier: tier1}", "'btcusdt'"),
    ("{symbol: XYZUSDT, tier: tier1, enabled: perhaps}", "'perhaps'"),
    ("{symbol: XYZUSDT, tier: tier1, priority: 0}", "field 'priority' = 0"),
    ("{symbol: XYZUSDT, tier: tier1, colour: red}", "field 'colour'"),
])
def test_bad_entries(tmp_path, entry, needle):
    p = write(tmp_path, BASE.replace("{symbol: DOGEUSDT, tier: tier3, enabled: false}", entry))
    with pytest.raises(SettingsError) as e:
        load_symbols(p, env={})
    assert needle in str(e.value) and "symbols[6]" in str(e.value)


def test_active_symbols_override():
    cfg = load_symbols(env={"ACTIVE_SYMBOLS": "ethusdt, ADAUSDT,NEWCOINUSDT"})
    assert [a.symbol for a in cfg.active] == ["ETHUSDT", "ADAUSDT", "NEWCOINUSDT"] or \
        {a.symbol for a in cfg.active} == {"ETHUSDT", "ADAUSDT", "NEWCOINUSDT"}
    by = cfg.by_symbol()
    assert by["ADAUSDT"].streams == ("trade", "kline_1m")           # disabled in file, forced on, keeps its tier
    assert by["NEWCOINUSDT"].tier == "tier2"                          # not in file: default tier
    with pytest.raises(SettingsError, match="ACTIVE_SYMBOLS.*'B-T'"):
        load_symbols(env={"ACTIVE_SYMBOLS": "B-T"})


def test_streaming_settings_env_and_errors(tmp_path):
    s = load_streaming_settings(env={"KAFKA_BOOTSTRAP_SERVERS": "h:1", "STREAM_SOURCE": "simulator",
                                     "SIMULATOR_PORT": "9999"})
    assert s.kafka.bootstrap_servers == "h:1" and s.source == "simulator"
    assert s.simulator.ws_url == "ws://127.0.0.1:9999"  # default follows the stack's simulator port
    with pytest.raises(SettingsError, match=r"streaming.yaml.*STREAMING_METRICS_PORT.*metrics.port' = 'x'"):
        load_streaming_settings(env={"STREAMING_METRICS_PORT": "x"})
    with pytest.raises(SettingsError) as e:
        load_streaming_settings(env={"MINIO_ROOT_PASSWORD": "s3cr3t", "STREAMING_METRICS_PORT": "-1"})
    assert "s3cr3t" not in str(e.value)
