"""Fixtures for simulator unit tests: a manually clocked market whose events
go through the real Publisher into fake subscribers (so payload bytes are the
ones a client would receive)."""
from __future__ import annotations

import orjson
import pytest

from binance_sim import ManualClock, SimConfig, SymbolSpec
from binance_sim.market import Market
from binance_sim.publisher import Publisher

START = 1_752_572_400_000  # 2025-07-15 09:40:00 UTC, a minute boundary

ALL_STREAMS = [
    "btcusdt@trade", "btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@miniTicker", "btcusdt@ticker",
    "!miniTicker@arr", "btcusdt@depth", "btcusdt@depth@100ms", "btcusdt@depth5", "btcusdt@depth10@100ms",
    "btcusdt@depth20", "btcusdt@kline_1s", "btcusdt@kline_1m", "btcusdt@kline_1d@+08:00",
]


class FakeConn:
    def __init__(self, variant: int = 1) -> None:
        self.variant = variant
        self.out: list[bytes] = []

    def messages(self) -> list:
        msgs = []
        for f in self.out:
            n = f[1] & 0x7F
            body = f[2:] if n < 126 else f[4:] if n == 126 else f[10:]
            msgs.append(orjson.loads(body))
        self.out.clear()
        return msgs


def make_cfg(**kw) -> SimConfig:
    kw.setdefault("symbols", [SymbolSpec.default("BTCUSDT", rate=200), SymbolSpec.default("ETHUSDT", rate=100)])
    kw.setdefault("seed", 42)
    return SimConfig(**kw)


class Harness:
    def __init__(self, cfg: SimConfig, streams=ALL_STREAMS, variant: int = 1) -> None:
        self.clock = ManualClock(START)
        self.pub = Publisher(cfg.ticker_window_s * 1000)
        self.market = Market(cfg, START, self.pub)
        self.conn = FakeConn(variant)
        for s in streams:
            self.pub.subscribe(self.conn, s)

    def run(self, ms: int, step: int | None = None) -> list:
        step = step or self.market.step_ms
        msgs = []
        for _ in range(ms // step):
            self.market.advance(self.clock.advance(step))
            msgs.extend(self.conn.messages())
        return msgs


