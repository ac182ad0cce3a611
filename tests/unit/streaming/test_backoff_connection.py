"""Backoff, attempt window, sharding, URL splitting, REST weight limiter."""
import asyncio
import random

from streaming.backfill import WeightLimiter
from streaming.backoff import AttemptWindow, Backoff
from streaming.connection import shard_streams, split_for_url


def test_backoff_grows_caps_jitters_and_resets():
    b = Backoff(0.5, 30, rng=random.Random(1))
    delays = [b.next() for _ in range(12)]
    for n, d in enumerate(delays):
        cap = min(30, 0.5 * 2 ** n)
        assert cap / 2 <= d <= cap
    assert max(delays) <= 30 and delays[-1] >= 15          # capped, never gives up, never 0
    assert len({round(d, 6) for d in delays[-5:]}) == 5     # jittered
    b.reset()
    assert b.next() <= 0.5


def test_attempt_window_limits_connection_attempts():
    now = [0.0]
    w = AttemptWindow(limit=3, window=300, clock=lambda: now[0])
    assert [w.delay() for _ in range(3)] == [0, 0, 0]
    assert w.delay() == 300
    now[0] = 301
    assert w.delay() == 0


def test_sharding_respects_1024_and_order():
    streams = [f"s{i}@trade" for i in range(2500)]
    shards = shard_streams(streams, 1024)
    assert [len(s) for s in shards] == [1024, 1024, 452] and sum(shards, []) == streams
    assert [len(s) for s in shard_streams(streams, 5000)] == [1024, 1024, 452]


def test_long_stream_lists_are_split_between_url_and_subscribe():
    streams = [f"sym{i}usdt@kline_1m" for i in range(300)]
    url, rest = split_for_url("ws://h:1", streams, 4000)
    assert len(url) <= 4000 and url.startswith("ws://h:1/stream?streams=sym0usdt@kline_1m/")
    assert url.count("@") + len(rest) == 300 and rest[0] == streams[url.count("@")]
    url, rest = split_for_url("ws://h:1/", ["a@trade", "b@trade"], 4000)
    assert url == "ws://h:1/stream?streams=a@trade/b@trade" and rest == []


def test_weight_limiter_uses_header_and_retry_after():
    lim = WeightLimiter(limit=100, budget=0.5)
    lim.observe({"X-MBX-USED-WEIGHT-1M": "45"})
    assert lim.used == 45

    async def go():
        await asyncio.wait_for(lim.acquire(5), 1)      # 50 <= 50: allowed
        try:
            await asyncio.wait_for(lim.acquire(1), 0.2)  # over budget: waits for the next minute
            return False
        except asyncio.TimeoutError:
            return True
    assert asyncio.run(go())
    lim2 = WeightLimiter(limit=100, budget=1)
    lim2.retry_after(0.3)

    async def go2():
        t = asyncio.get_running_loop().time()
        await lim2.acquire(1)
        return asyncio.get_running_loop().time() - t
    assert asyncio.run(go2()) >= 0.25
