"""Benchmark feeder for the bronze writer: simulator-shaped market data for N symbols, produced straight to
the stack's ``crypto_raw_<symbol>`` topics at a fixed rate, in the streaming service's envelope.

Why not the simulator and the streaming service: at 100 symbols the simulator (one Python process that
steps every symbol's market model 50 times a second) needs a core of its own, and on a 2-core box it then
starves the websocket it serves (pong timeouts, reconnects that time out), so a scale measurement of the
writer would measure the feed instead. This costs ~10 µs a message.

Each symbol gets, per second, ``rate`` messages in the mix of :data:`MIX` (trades with dense ids and
event time = now, agg trades with dense ids, book tickers with rising update ids, 1m kline updates that
close at the minute, mini tickers), keyed by stream like the streaming service does."""
from __future__ import annotations

import math
import time
from collections.abc import Callable

from shared.envelope import Source, build_envelope, topic_for

# share of a symbol's messages per stream (the simulator's tier-2 streams, trades about 40 %)
MIX = {"trade": 0.40, "aggTrade": 0.15, "bookTicker": 0.38, "kline_1m": 0.03, "miniTicker": 0.04}


def create_topics(admin_config: dict, symbols: list[str], partitions: int = 3) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(admin_config)
    for topic, fut in admin.create_topics([NewTopic(topic_for(s), partitions, 1) for s in symbols]).items():
        try:
            fut.result(60)
        except Exception as e:  # noqa: BLE001 - an existing topic is fine
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


class SymbolState:
    def __init__(self, symbol: str, base_id: int) -> None:
        self.symbol, self.s = symbol, symbol.lower()
        self.trade_id = self.agg_id = self.update_id = base_id
        self.minute: int | None = None
        self.price = 100.0

    def payloads(self, stream: str, now_ms: int) -> list[dict]:
        sym, price = self.symbol, f"{self.price:.8f}"
        if stream == "trade":
            self.trade_id += 1
            return [{"e": "trade", "E": now_ms, "s": sym, "t": self.trade_id, "p": price, "q": "0.50000000",
                     "T": now_ms - 1, "m": self.trade_id % 2 == 0, "M": True}]
        if stream == "aggTrade":
            self.agg_id += 1
            return [{"e": "aggTrade", "E": now_ms, "s": sym, "a": self.agg_id, "p": price, "q": "1.50000000",
                     "f": self.agg_id, "l": self.agg_id, "T": now_ms - 1, "m": True, "M": True}]
        if stream == "bookTicker":
            self.update_id += 1
            return [{"u": self.update_id, "s": sym, "b": price, "B": "1.00000000", "a": f"{self.price + 0.01:.8f}",
                     "A": "2.00000000"}]
        if stream == "miniTicker":
            return [{"e": "24hrMiniTicker", "E": now_ms, "s": sym, "c": price, "o": "99.00000000", "h": "101.00000000",
                     "l": "98.00000000", "v": "10.00000000", "q": "1000.00000000"}]
        minute = now_ms // 60_000 * 60_000
        out = []
        if self.minute is not None and minute != self.minute:   # the previous minute closes
            out.append(self._kline(self.minute, now_ms, True))
        self.minute = minute
        return out + [self._kline(minute, now_ms, False)]

    def _kline(self, t: int, now_ms: int, closed: bool) -> dict:
        p = f"{self.price:.8f}"
        return {"e": "kline", "E": now_ms, "s": self.symbol, "k": {
            "t": t, "T": t + 59_999, "s": self.symbol, "i": "1m", "f": 1, "L": 2, "o": p, "c": p, "h": p, "l": p,
            "v": "5.00000000", "n": 2, "x": closed, "q": "500.00000000", "V": "2.00000000", "Q": "200.00000000", "B": "0"}}


def feed(producer_config: dict, symbols: list[str], rate: float, should_stop: Callable[[], bool],
         step_s: float = 0.05) -> int:
    """Produce ``rate`` messages a second per symbol until ``should_stop()``; returns how many."""
    from confluent_kafka import Producer

    p = Producer({**producer_config, "linger.ms": 20, "compression.type": "lz4", "enable.idempotence": True})
    base = int(time.time() * 1000) * 10   # ids like the simulator's clock base: above any earlier run's
    states = [SymbolState(s, base) for s in symbols]
    owed = {(s.symbol, k): 0.0 for s in states for k in MIX}
    sent = 0
    t_prev = time.monotonic()
    while not should_stop():
        time.sleep(step_s)
        t = time.monotonic()
        dt, t_prev = t - t_prev, t
        now_ms = int(time.time() * 1000)
        for st in states:
            for stream, share in MIX.items():
                key = (st.symbol, stream)
                owed[key] += rate * share * dt
                n = math.floor(owed[key])
                owed[key] -= n
                for _ in range(n):
                    for payload in st.payloads(stream, now_ms):
                        name = f"{st.s}@{stream}"
                        value = build_envelope(name, st.symbol, Source.SIMULATOR, payload, now_ms)
                        while True:
                            try:
                                p.produce(topic_for(st.symbol), key=name.encode(), value=value)
                                break
                            except BufferError:
                                p.poll(0.1)
                        sent += 1
        p.poll(0)
    p.flush(30)
    return sent
