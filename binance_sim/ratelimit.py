"""Request-weight accounting (REST) and the inbound message limit (WS).

Binance counts REST weight per IP in fixed calendar-minute windows and
reports it in ``X-MBX-USED-WEIGHT-1M``; past the limit it answers 429 with
``Retry-After`` (seconds to the next minute), and IPs that keep going get 418
bans.  Both use the injected clock so tests need not wait a minute.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .clock import Clock

WEIGHTS = {
    "/api/v3/ping": 1, "/api/v3/time": 1, "/api/v3/exchangeInfo": 20,
    "/api/v3/trades": 25, "/api/v3/historicalTrades": 25, "/api/v3/aggTrades": 4,
    "/api/v3/klines": 2, "/api/v3/uiKlines": 2,
}


def depth_weight(limit: int) -> int:
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def ticker24_weight(n_symbols: int | None) -> int:
    """1 symbol: 2; symbols list: 2..40 by count; all symbols: 80."""
    if n_symbols is None:
        return 80
    if n_symbols <= 20:
        return 2
    if n_symbols <= 100:
        return 40
    return 80


@dataclass
class _IpState:
    minute: int = -1
    used: int = 0
    rejected: int = 0
    banned_until_ms: int = 0
    ban_count: int = 0
    raw: deque = field(default_factory=deque)


class WeightLimiter:
    """Per-IP weight in the current minute, 429/418 decisions."""

    def __init__(self, clock: Clock, limit: int = 6000, ban_after: int = 20) -> None:
        self.clock = clock
        self.limit = limit
        self.ban_after = ban_after  # 429s within one minute before a 418 ban
        self.ips: dict[str, _IpState] = {}

    def charge(self, ip: str, weight: int) -> tuple[int, int, int]:
        """Returns (http_status, used_weight, retry_after_s); status 200 = allowed."""
        now = self.clock.now_ms()
        st = self.ips.setdefault(ip, _IpState())
        minute = now // 60_000
        if minute != st.minute:
            st.minute, st.used, st.rejected = minute, 0, 0
        if now < st.banned_until_ms:
            return 418, st.used, max(1, -(-(st.banned_until_ms - now) // 1000))
        st.used += weight
        if st.used > self.limit:
            st.rejected += 1
            if st.rejected > self.ban_after:
                st.ban_count += 1
                ban_ms = min(120_000 * (2 ** (st.ban_count - 1)), 3 * 86_400_000)
                st.banned_until_ms = now + ban_ms
                return 418, st.used, ban_ms // 1000
            return 429, st.used, max(1, -(-((minute + 1) * 60_000 - now) // 1000))
        return 200, st.used, 0

    def used(self, ip: str) -> int:
        st = self.ips.get(ip)
        if st is None or st.minute != self.clock.now_ms() // 60_000:
            return 0
        return st.used


class MessageRateLimiter:
    """Sliding one-second window of incoming frames for one websocket."""

    __slots__ = ("limit", "times")

    def __init__(self, limit: int = 5) -> None:
        self.limit = limit
        self.times: deque[float] = deque()

    def hit(self, now: float) -> bool:
        """Record one incoming message; False when the limit is exceeded."""
        t = self.times
        while t and now - t[0] >= 1.0:
            t.popleft()
        t.append(now)
        return len(t) <= self.limit
