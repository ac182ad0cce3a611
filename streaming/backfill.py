"""REST backfill of gaps (spec §3.4) within the exchange's rate limits (spec §3.3).

* trades: ``/api/v3/historicalTrades?fromId=`` (weight 25), aggTrades: ``/api/v3/aggTrades?fromId=``
  (weight 4), klines: ``/api/v3/klines?startTime&endTime`` (weight 2, closed bars only); pages of 1000.
* Rate limits: we spend at most ``weight_budget`` of the per-minute weight (the live value comes from the
  ``X-MBX-USED-WEIGHT-1M`` header of every reply); 429/418 → wait ``Retry-After`` (never hammer:
  continuing after 429 gets the IP banned); 5xx / network errors → exponential backoff, then give up
  on this gap after ``max_attempts`` (the pipeline then publishes what it holds and counts the hole).
* REST rows are mapped to the *stream* payload shape (same keys and JSON types) so bronze parses one
  format; the envelope says ``source = rest_backfill``. Backfilled klines lack ``f``/``L`` (first/last
  trade id), which REST does not return.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from streaming.backoff import Backoff
from streaming.config import BackfillSettings

if TYPE_CHECKING:
    from streaming.pipeline import StreamState

log = logging.getLogger("streaming.backfill")

W_HISTORICAL_TRADES, W_AGG_TRADES, W_KLINES = 25, 4, 2
PAGE = 1000


class BackfillError(RuntimeError):
    pass


class WeightLimiter:
    """Client-side view of the exchange's REQUEST_WEIGHT window (1 minute, per IP)."""

    def __init__(self, limit: int, budget: float) -> None:
        self.limit, self.budget = limit, budget
        self.used = 0
        self.minute = int(time.time() // 60)
        self.blocked_until = 0.0
        self.waits = 0

    def _roll(self) -> None:
        m = int(time.time() // 60)
        if m != self.minute:
            self.minute, self.used = m, 0

    async def acquire(self, weight: int) -> None:
        while True:
            now = time.time()
            if now < self.blocked_until:
                self.waits += 1
                await asyncio.sleep(self.blocked_until - now)
                continue
            self._roll()
            if self.used + weight <= self.limit * self.budget:
                self.used += weight
                return
            self.waits += 1
            await asyncio.sleep(60 - now % 60 + 0.05)

    def observe(self, headers: Any) -> None:
        v = headers.get("X-MBX-USED-WEIGHT-1M")
        if v is not None and str(v).isdigit():
            self._roll()
            self.used = int(v)

    def retry_after(self, seconds: float) -> None:
        self.blocked_until = max(self.blocked_until, time.time() + seconds)


class Backfiller:
    def __init__(self, rest_url: str, settings: BackfillSettings, ssl: Any = True) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.ssl = ssl  # https:// verification (True = system CAs, or a context with the simulator's CA)
        self.s = settings
        self.limiter = WeightLimiter(settings.weight_limit, settings.weight_budget)
        self.session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.rate_limited = 0
        self.errors = 0
        self._sem = asyncio.Semaphore(2)

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.s.request_timeout_s),
                                             connector=aiohttp.TCPConnector(ssl=self.ssl))
        try:  # live limit from exchangeInfo when the exchange says so
            info = await self.get("/api/v3/exchangeInfo", {"symbol": "BTCUSDT"}, 20, attempts=1)
            for rl in info.get("rateLimits", []):
                if rl.get("rateLimitType") == "REQUEST_WEIGHT" and rl.get("interval") == "MINUTE":
                    self.limiter.limit = int(rl["limit"]) // max(1, int(rl.get("intervalNum", 1)))
        except Exception as e:  # noqa: BLE001 - not fatal: the configured limit stays
            log.info("exchangeInfo not available, using the configured weight limit", extra={"error": repr(e)})

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def get(self, path: str, params: dict[str, Any], weight: int, attempts: int | None = None) -> Any:
        assert self.session is not None
        backoff = Backoff(0.5, 15)
        attempts = attempts or self.s.max_attempts
        failures = 0
        while True:
            await self.limiter.acquire(weight)
            self.requests += 1
            try:
                async with self._sem, self.session.get(self.rest_url + path, params=params) as r:
                    self.limiter.observe(r.headers)
                    body = await r.read()
                    if r.status in (429, 418):
                        self.rate_limited += 1
                        wait = float(r.headers.get("Retry-After", "60") or 60)
                        log.warning("REST rate limited; waiting Retry-After",
                                    extra={"status": r.status, "retry_after_s": wait, "path": path})
                        self.limiter.retry_after(wait)
                        continue  # not an attempt: waiting is the cure
                    if r.status >= 500:
                        raise BackfillError(f"HTTP {r.status} {body[:200]!r}")
                    if r.status != 200:
                        raise BackfillError(f"HTTP {r.status} {body[:200]!r} (not retried)")
                    return orjson.loads(body)
            except (aiohttp.ClientError, asyncio.TimeoutError, BackfillError, orjson.JSONDecodeError) as e:
                self.errors += 1
                failures += 1
                if "not retried" in str(e) or failures >= attempts:
                    raise BackfillError(f"GET {path} {params}: {e}") from None
                await asyncio.sleep(backoff.next())

    # --------------------------------------------------------------------------------- fetchers
    async def fetch(self, st: "StreamState", lo: int, hi: int) -> tuple[list[tuple[Any, bytes]], int]:
        """Records covering [lo, hi] for ``st`` as (sequencing key, envelope bytes), and the id up to which
        REST was asked (holes at or below it are unfillable)."""
        if st.stype == "trade":
            return await self._ids(st, lo, hi, "/api/v3/historicalTrades", W_HISTORICAL_TRADES, "id", _trade)
        if st.stype == "aggTrade":
            return await self._ids(st, lo, hi, "/api/v3/aggTrades", W_AGG_TRADES, "a", _agg)
        if st.stype.startswith("kline_"):
            return await self._klines(st, lo, hi), hi
        raise BackfillError(f"no REST backfill for {st.stype}")

    async def _ids(self, st: "StreamState", lo: int, hi: int, path: str, weight: int, id_key: str,
                   mapper) -> tuple[list[tuple[Any, bytes]], int]:
        out: list[tuple[Any, bytes]] = []
        nxt = lo
        head = st.rest_prefix
        while nxt <= hi:
            rows = await self.get(path, {"symbol": st.symbol, "fromId": nxt, "limit": PAGE}, weight)
            if not rows:
                break
            now = int(time.time() * 1000)
            for row in rows:
                i = row[id_key]
                if i > hi:
                    break
                payload = mapper(row, st.symbol)
                out.append((i, head.build(payload["E"], now, orjson.dumps(payload))))
            last = rows[-1][id_key]
            if last < nxt:  # no progress: the exchange ignored fromId
                break
            nxt = last + 1
        return out, hi

    async def _klines(self, st: "StreamState", lo: int, hi: int) -> list[tuple[Any, bytes]]:
        interval = st.stype[6:]
        out: list[tuple[Any, bytes]] = []
        start = lo
        head = st.rest_prefix
        while start <= hi:
            rows = await self.get("/api/v3/klines", {"symbol": st.symbol, "interval": interval, "startTime": start,
                                                     "endTime": hi, "limit": PAGE}, W_KLINES)
            if not rows:
                break
            now = int(time.time() * 1000)
            for r in rows:
                if r[6] >= now:  # still open: the live stream delivers it
                    continue
                payload = _kline(r, st.symbol, interval)
                out.append(((r[0], r[6], True), head.build(payload["E"], now, orjson.dumps(payload))))
            if rows[-1][0] < start:
                break
            start = rows[-1][0] + 1
            if len(rows) < PAGE:
                break
        return out


def _trade(r: dict, sym: str) -> dict:
    return {"e": "trade", "E": r["time"], "s": sym, "t": r["id"], "p": r["price"], "q": r["qty"], "T": r["time"],
            "m": r["isBuyerMaker"], "M": r.get("isBestMatch", True)}


def _agg(r: dict, sym: str) -> dict:
    return {"e": "aggTrade", "E": r["T"], "s": sym, "a": r["a"], "p": r["p"], "q": r["q"], "f": r["f"], "l": r["l"],
            "T": r["T"], "m": r["m"], "M": r.get("M", True)}


def _kline(r: list, sym: str, interval: str) -> dict:
    return {"e": "kline", "E": r[6], "s": sym,
            "k": {"t": r[0], "T": r[6], "s": sym, "i": interval, "o": r[1], "c": r[4], "h": r[2], "l": r[3],
                  "v": r[5], "n": r[8], "x": True, "q": r[7], "V": r[9], "Q": r[10], "B": r[11]}}
