"""Health thresholds (/healthz) and the Prometheus alerting rules: every metric the rules read is one the
service exports; promtool checks the rules and their tests when it is installed (Debian package prometheus)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from shared.envelope import Source
from shared.symbols import ActiveSymbol
from streaming.config import HealthSettings, load_streaming_settings
from streaming.health import HealthWatch
from streaming.metrics import ServiceCollector
from streaming.pipeline import Pipeline

RULES = Path(__file__).resolve().parents[3] / "infra" / "prometheus" / "alerts.yml"


def test_health_thresholds_name_the_problem_and_recover():
    h = HealthWatch(HealthSettings(window_s=60, max_dlq_per_min=10, max_delivery_failures=0, max_unfilled=0,
                                   max_undelivered_pending=5))
    h.sample(0, 0, 0, 0)
    h.sample(30, 4, 0, 0)
    assert h.problems() == []  # 8/min
    h.sample(60, 30, 0, 0)
    assert h.problems() == ["DLQ rate 30.0/min > health.max_dlq_per_min 10"]
    h.sample(90, 30, 3, 2)
    assert any("3 Kafka delivery failures" in p for p in h.problems())
    assert any("2 ids/bars REST could not provide" in p for p in h.problems())
    assert h.problems(undelivered_pending=6)[-1] == "6 records await redelivery > health.max_undelivered_pending 5"
    for t in range(100, 400, 10):  # nothing new for longer than the window: healthy again
        h.sample(t, 30, 3, 2)
    assert h.problems() == []


def test_health_settings_are_validated(tmp_path):
    from shared.settings import SettingsError

    f = tmp_path / "s.yaml"
    f.write_text("health:\n  max_dlq_per_min: -1\n")
    with pytest.raises(SettingsError, match="max_dlq_per_min"):
        load_streaming_settings(f, env={})


class FakeService:
    def __init__(self):
        sym = ActiveSymbol(symbol="BTCUSDT", tier="t", priority=1, streams=("trade", "kline_1m"))

        class Sink:
            produced = delivered = failed = in_flight = 0
            failed_by_reason = {"_MSG_TIMED_OUT": 1}
            blocked = False

        from streaming.producer import FastHistogram
        self.sink = Sink()
        self.sink.ack_latency = self.sink.event_latency = FastHistogram()
        self.pipeline = Pipeline([sym], Source.SIMULATOR, self.sink)
        self.pipeline.dlq_counts = {"invalid_json": 1}
        self.reconnects = {(0, "stall"): 1}
        self.choice = type("C", (), {"name": "simulator", "reason": "configured"})()
        self.shards, self.archive = [], None
        self.symbols_unavailable = {"NOPEUSDT": "unknown symbol"}
        self.resumed = {"kafka": 0, "file": 1, "fresh": 0}

    def health_problems(self):
        return []


def exported_names() -> set[str]:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(ServiceCollector(FakeService()))
    text = generate_latest(reg).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_every_metric_in_the_alert_rules_is_exported():
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    exported = exported_names()
    used = {m for r in rules for m in re.findall(r"\b(streaming_[a-z_]+)", r["expr"])}
    assert used, "rules read no streaming metric"
    assert used <= exported, f"rules use metrics the service does not export: {sorted(used - exported)}"
    assert {"streaming_healthy", "streaming_undelivered_pending", "streaming_symbol_unavailable"} <= exported


def test_a_misspelt_metric_would_be_caught():
    assert "streaming_dlq_messages" not in exported_names()  # counters are exported as <name>_total


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_checks_rules_and_their_tests():
    for args in (["check", "rules", str(RULES)], ["test", "rules", str(RULES.with_name("alerts_test.yml"))]):
        r = subprocess.run(["promtool", *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
