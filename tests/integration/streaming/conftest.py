"""Helpers for the streaming integration tests: the real simulator (in a thread), the real service (in a
thread with its own event loop, or as a subprocess), and a Kafka reader. Every test uses its own symbols
so tests sharing the session broker never read each other's topics."""
from __future__ import annotations

import asyncio
import secrets
import threading
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from binance_sim import SimConfig, SymbolSpec, run_in_thread
from shared.envelope import topic_for
from shared.kafka_connection import KafkaConnection
from shared.symbols import load_symbols
from streaming.config import load_streaming_settings
from streaming.logs import setup_logging


def symbols_yaml(tmp_path: Path, symbols: dict[str, list[str]], name: str = "symbols.yaml") -> Path:
    lines = ["version: 1", "default_tier: t", "topics: {partitions: 2}", "tiers:",
             "  t: {streams: [trade]}", "symbols:"]
    for s, streams in symbols.items():
        lines.append(f"  - {{symbol: {s}, tier: t, streams: [{', '.join(streams)}]}}")
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def start_sim(rates: dict[str, float], **kw):
    # guarded like the deploy stack's simulator; tests reach /_sim through the handle, which carries the token
    kw.setdefault("control_token", secrets.token_urlsafe(16))
    return run_in_thread(SimConfig(symbols=[SymbolSpec.default(s, rate=r) for s, r in rates.items()], **kw))


class ServiceThread:
    """The real Service on its own loop in a thread; stop() runs the SIGTERM path and returns its rc."""

    def __init__(self, bootstrap: "KafkaConnection | str", sim, symbols_file: Path, overrides: dict | None = None,
                 source: str = "simulator") -> None:
        from streaming.service import Service

        # as the deploy stack hands it over: the service's Kafka login in its environment
        env = {**KafkaConnection.of(bootstrap).as_env(), "SIMULATOR_WS_URL": sim.ws_url,
               "SIMULATOR_REST_URL": sim.rest_url, "STREAM_SOURCE": source, "STREAMING_METRICS_PORT": "0"}
        base = {"connection.stall_timeout_s": 10, "kafka.flush_timeout_s": 60,
                "kafka.positions_file": str(symbols_file.parent / "positions.json")}
        settings = load_streaming_settings(env=env, overrides={**base, **(overrides or {})})
        self.svc = Service(settings, load_symbols(symbols_file, env={}), latency_sample=1)
        self.loop = asyncio.new_event_loop()
        self.rc: int | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        deadline = time.time() + 60
        while self.svc.state != "running":
            assert time.time() < deadline, "service did not start"
            assert self.thread.is_alive(), "service thread died"
            time.sleep(0.1)

    def _main(self) -> None:
        self.rc = self.loop.run_until_complete(self.svc.run())

    def status(self) -> dict:
        return self.svc.status()

    def wait(self, cond, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while not cond():
            assert time.time() < deadline, f"timeout waiting for {what}: {self.status()}"
            time.sleep(0.2)

    def stop(self) -> int:
        self.loop.call_soon_threadsafe(self.svc.request_stop)
        self.thread.join(120)
        assert not self.thread.is_alive()
        return self.rc  # type: ignore[return-value]


def _partitions(c: Consumer, topic: str, timeout: float) -> list[int]:
    """The topic's partitions once the broker's metadata has them: right after a topic is created, a metadata
    answer may still lack it (or list no partitions), and reading from an empty list would return nothing."""
    deadline = time.time() + timeout
    while True:
        t = c.list_topics(topic, timeout=10).topics.get(topic)
        if t is not None and t.error is None and t.partitions:
            return sorted(t.partitions)
        if time.time() > deadline:
            raise AssertionError(f"topic {topic}: no partitions in the broker's metadata after {timeout:.0f}s "
                                 f"({t.error if t is not None else 'unknown topic'})")
        time.sleep(0.5)


def read_topic(bootstrap: "KafkaConnection | str", topic: str, timeout: float = 30) -> list:
    """Every record of ``topic`` (all partitions, up to the current end), as Message objects."""
    c = Consumer(KafkaConnection.of(bootstrap).client_config(**{"group.id": f"t-{time.time_ns()}",
                                                               "enable.auto.commit": False}))
    try:
        parts = _partitions(c, topic, timeout)
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        out, pos = [], {p: 0 for p in parts}
        deadline = time.time() + timeout
        while any(pos[p] < ends[p] for p in parts) and time.time() < deadline:
            for m in c.consume(1000, timeout=1):
                if m.error() is None:
                    out.append(m)
                    pos[m.partition()] = m.offset() + 1
        return out
    finally:
        c.close()


def stream_records(bootstrap: "KafkaConnection | str", symbol: str, stream: str) -> list[dict]:
    """Envelopes of one stream, in Kafka order."""
    key = stream.encode()
    return [orjson.loads(m.value()) for m in read_topic(bootstrap, topic_for(symbol)) if m.key() == key]


def assert_dense(ids: list[int], what: str) -> None:
    assert ids, f"no {what}"
    assert len(ids) == len(set(ids)), f"{what}: {len(ids) - len(set(ids))} duplicates"
    missing = sorted(set(range(ids[0], ids[-1] + 1)) - set(ids))
    assert not missing, f"{what}: {len(missing)} missing, e.g. {missing[:10]}"
    assert ids == sorted(ids), f"{what}: out of order"


@pytest.fixture(scope="module")
def own_stack():
    """A broker of the module's own, for tests that stop or kill it."""
    from infra.local_stack import LocalStack

    stack = LocalStack.create()
    stack.start("kafka")
    yield stack
    stack.close()


@pytest.fixture(scope="session", autouse=True)
def _json_logs():
    setup_logging("WARNING")
