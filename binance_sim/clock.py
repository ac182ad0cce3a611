"""Clock abstraction.

The simulator never calls ``time.time()`` directly: the market engine and the
servers ask a :class:`Clock`.  Tests use :class:`ManualClock` so that trade
generation, kline closes and ticker windows are deterministic and instant.
"""
from __future__ import annotations

import time


class Clock:
    """Wall clock in epoch milliseconds (the production clock)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock(Clock):
    """A clock that only moves when told to (unit tests)."""

    def __init__(self, start_ms: int = 1_752_572_400_000) -> None:
        self._now = int(start_ms)

    def now_ms(self) -> int:
        return self._now

    def monotonic(self) -> float:
        return self._now / 1000.0

    def advance(self, ms: int) -> int:
        self._now += int(ms)
        return self._now

    def set(self, now_ms: int) -> None:
        self._now = int(now_ms)
