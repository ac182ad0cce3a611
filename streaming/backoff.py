"""Reconnect pacing: exponential backoff with jitter that never gives up, plus a guard for the
exchange's connection-attempt limit (300 per 5 minutes per IP, spec §1.5).

Why own code instead of tenacity: the reconnect loop is an infinite ``while`` with state (reset after a
healthy connection, attempt window) that tenacity would only wrap awkwardly; this is 40 lines and
unit-testable with a seeded RNG."""
from __future__ import annotations

import random
import time
from collections import deque


class Backoff:
    """``next()`` → seconds to wait: "equal jitter" in [cap/2, cap], cap = min(max, base·2^n).

    Equal (not full) jitter: never 0 s, so a flapping endpoint is never hammered, while reconnects of
    many shards still spread out."""

    def __init__(self, base: float = 0.5, maximum: float = 30.0, factor: float = 2.0,
                 rng: random.Random | None = None) -> None:
        self.base, self.maximum, self.factor = base, maximum, factor
        self.attempt = 0
        self.rng = rng or random.Random()

    def next(self) -> float:
        cap = min(self.maximum, self.base * self.factor ** min(self.attempt, 60))
        self.attempt += 1
        return cap / 2 + self.rng.uniform(0, cap / 2)

    def reset(self) -> None:
        self.attempt = 0


class AttemptWindow:
    """At most ``limit`` connection attempts per ``window`` seconds (shared by all shards)."""

    def __init__(self, limit: int = 250, window: float = 300.0, clock=time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.stamps: deque[float] = deque()

    def delay(self) -> float:
        """Seconds to wait before the next attempt is allowed (0 = go); records the attempt when 0."""
        now = self.clock()
        while self.stamps and now - self.stamps[0] >= self.window:
            self.stamps.popleft()
        if len(self.stamps) >= self.limit:
            return self.window - (now - self.stamps[0])
        self.stamps.append(now)
        return 0.0
