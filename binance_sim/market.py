"""One coherent synthetic market per symbol.

Why it is built this way:

* Prices are integer *ticks*, quantities integer *lots* (from the exchangeInfo
  PRICE_FILTER / LOT_SIZE), so every volume, kline and ticker is exact.
* A latent fair price follows a log random walk whose shocks are correlated
  across symbols (one common factor) plus market-wide Poisson jumps.
* The order book is re-quoted around the fair price every step; taker orders
  then execute against the *book's* levels, so trade prices always are the
  best levels of the book at execution time.  One taker order at one price is
  one aggTrade made of 1..n trades (dense ids per symbol).
* Time advances in fixed steps aligned to the epoch (``step_ms`` divides
  100 ms) so no step straddles a second, and random draws depend only on the
  seed: same seed, same trades.
* Everything observable is reported to a *listener* (the stream publisher or a
  test recorder); the market never serialises anything itself.
"""
from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from typing import Protocol

from .candles import C, KlineSeries, N, RollingTicker, empty_agg, interval_ms, merge
from .config import KLINE_INTERVALS, SimConfig, SymbolSpec

YEAR_MS = 365.25 * 86_400_000
FILL_LAMBDA = 1.6
#: mean fills per taker order: 1 + E[floor(Exp(FILL_LAMBDA))]
MEAN_FILLS = 1.0 + 1.0 / (math.exp(FILL_LAMBDA) - 1.0)
TZ8 = 8 * 3_600_000
#: intervals whose buckets differ in UTC+8 (the others alias the UTC series)
TZ8_INTERVALS = ("6h", "12h", "1d", "3d", "1w", "1M")

# trade tuple: (id, price_ticks, lots, time_ms, is_buyer_maker)
# aggTrade tuple: (agg_id, price_ticks, lots, first_id, last_id, time_ms, is_buyer_maker)


class Listener(Protocol):
    def on_trades(self, m: "SymbolMarket", trades: list, aggs: list, now: int) -> None: ...
    def on_book_ticker(self, m: "SymbolMarket", now: int) -> None: ...
    def on_depth(self, m: "SymbolMarket", speed: int, first: int, last: int,
                 bids: dict, asks: dict, now: int) -> None: ...
    def on_partial_depth(self, m: "SymbolMarket", speed: int, now: int) -> None: ...
    def on_kline(self, m: "SymbolMarket", interval: str, tz: int, t: int, T: int,
                 agg: list, closed: bool, now: int) -> None: ...
    def on_ticker(self, m: "SymbolMarket", now: int) -> None: ...
    def on_second(self, now: int) -> None: ...


class NullListener:
    """Discards everything (REST-only use, benchmarks of the engine)."""

    def __getattr__(self, name):  # noqa: D105
        return lambda *a, **k: None


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson sample; normal approximation for large means (speed)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class SymbolMarket:
    """Book, trades, klines and ticker state of one symbol."""

    def __init__(self, spec: SymbolSpec, cfg: SimConfig, rng: random.Random, start_ms: int) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self.cfg = cfg
        self.rng = rng
        self.levels = cfg.book_levels
        self.fair = float(spec.start_ticks)
        self.last_price = spec.start_ticks
        self.last_qty = 0
        self.lower = spec.symbol.lower()
        # level gap: deeper levels sit on a grid ~2 bp apart (touch is 1 tick wide)
        self.gap = max(1, round(spec.start_ticks * 0.00002))
        price = spec.start_ticks * spec.tick_units / 1e8
        self.mean_lots = max(1.0, (150.0 / price) / (spec.step_units / 1e8))
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid = 0
        self.best_ask = 0
        # id_base > 0 keeps ids increasing across simulator restarts (as a real exchange's do)
        self.update_id = 1_000_000 + cfg.id_base
        self.next_trade_id = 1 + cfg.id_base
        self.next_agg_id = 1 + cfg.id_base
        self.trades: list[tuple] = []  # history, dense ids: index = id - trades[0][0]
        self.aggs: list[tuple] = []
        self.agg_times: list[int] = []
        self.win100: tuple[int, dict, dict] | None = None  # (first update id, bids, asks)
        self.win1000: tuple[int, dict, dict] | None = None
        self.sec: list[int] | None = None  # aggregate of the current second
        self.sec_changed = False
        self.last_bt = (0, 0, 0, 0)
        keep = lambda iv: cfg.history_s * 1000 // interval_ms(iv) + 2  # noqa: E731
        self.klines: dict[tuple[str, int], KlineSeries] = {
            (iv, 0): KlineSeries(iv, 0, keep(iv)) for iv in KLINE_INTERVALS
        }
        for iv in TZ8_INTERVALS:
            self.klines[(iv, TZ8)] = KlineSeries(iv, TZ8, keep(iv))
        self.ticker = RollingTicker(cfg.ticker_window_s * 1000, spec.start_ticks)
        self._requote(record=False)
        self.last_bt = self.book_top()

    # ----------------------------------------------------------------- book
    def _set(self, side: dict, price: int, lots: int, bid: bool, record: bool) -> None:
        if lots:
            side[price] = lots
        else:
            side.pop(price, None)
        if record:
            self.update_id += 1
            for win in (self.win100, self.win1000):
                (win[1] if bid else win[2])[price] = lots

    def _desired(self) -> tuple[int, int, set[int], set[int]]:
        b0 = max(1, math.floor(self.fair - 0.5))
        a0 = b0 + 1
        g, n = self.gap, self.levels - 1
        top = (b0 - 1) // g * g
        bids = set(range(top, max(0, top - g * n), -g))
        bids.add(b0)
        lo = (a0 // g + 1) * g
        asks = set(range(lo, lo + g * n, g))
        asks.add(a0)
        return b0, a0, bids, asks

    def _new_lots(self) -> int:
        return max(1, int(self.rng.expovariate(1.0) * self.mean_lots * 6))

    def _requote(self, record: bool = True) -> None:
        """Market makers cancel stale quotes and fill holes around the fair price."""
        b0, a0, want_b, want_a = self._desired()
        for side, want, is_bid in ((self.bids, want_b, True), (self.asks, want_a, False)):
            have = side.keys()
            for p in sorted(have - want):
                self._set(side, p, 0, is_bid, record)
            for p in sorted(want - have):
                self._set(side, p, self._new_lots(), is_bid, record)
        self.best_bid, self.best_ask = b0, a0
        if record:  # a little churn on the touch and near levels
            rng = self.rng
            for _ in range(2):
                is_bid = rng.random() < 0.5
                side = self.bids if is_bid else self.asks
                base = self.best_bid if is_bid else self.best_ask
                k = int(rng.expovariate(0.7))
                p = base - k * self.gap if is_bid else base + k * self.gap
                if k == 0 or p in side:
                    self._set(side, base if k == 0 else p, self._new_lots(), is_bid, True)

    def book_top(self) -> tuple[int, int, int, int]:
        return self.best_bid, self.bids.get(self.best_bid, 0), self.best_ask, self.asks.get(self.best_ask, 0)

    def depth(self, limit: int) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``limit`` levels: (lastUpdateId, bids high->low, asks low->high)."""
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return self.update_id, bids, asks

    # --------------------------------------------------------------- trading
    def _execute(self, t_ms: int, buy: bool, n_fills: int, trades: list, aggs: list) -> None:
        rng, side = self.rng, (self.asks if buy else self.bids)
        m = not buy  # buyer is maker when the taker sells
        cur_price = None
        agg_first = agg_lots = 0
        tid = self.next_trade_id
        sec = self.sec
        quote_mult = self.spec.quote_mult
        for _ in range(n_fills):
            if not side:
                break
            price = self.best_ask if buy else self.best_bid
            if price not in side:
                price = min(side) if buy else max(side)
            avail = side[price]
            lots = min(avail, max(1, int(rng.expovariate(1.0) * self.mean_lots)))
            self._set(side, price, avail - lots, not buy, True)
            if avail == lots:  # level consumed: touch moves away
                if buy:
                    self.best_ask = min(side) if side else price + 1
                else:
                    self.best_bid = max(side) if side else price - 1
            if price != cur_price:
                if cur_price is not None:
                    self._agg(aggs, cur_price, agg_lots, agg_first, tid - 1, t_ms, m)
                cur_price, agg_first, agg_lots = price, tid, 0
            agg_lots += lots
            trade = (tid, price, lots, t_ms, m)
            trades.append(trade)
            tid += 1
            qv = price * lots * quote_mult
            if sec is None or sec[N] == 0:
                sec = self.sec = [price, price, price, price, 0, 0, 0, 0, 0, trade[0], 0]
            if price > sec[1]:
                sec[1] = price
            if price < sec[2]:
                sec[2] = price
            sec[3] = price
            sec[4] += lots
            sec[5] += qv
            if buy:
                sec[6] += lots
                sec[7] += qv
            sec[8] += 1
            sec[10] = trade[0]
            self.last_price = price
            self.last_qty = lots
        if cur_price is not None:
            self._agg(aggs, cur_price, agg_lots, agg_first, tid - 1, t_ms, m)
        self.next_trade_id = tid

    def _agg(self, aggs: list, price: int, lots: int, first: int, last: int, t_ms: int, m: bool) -> None:
        aggs.append((self.next_agg_id, price, lots, first, last, t_ms, m))
        self.next_agg_id += 1

    def step(self, start: int, dt_ms: int, dlog: float, z: float) -> tuple[list, list]:
        """Advance one step: move fair price, re-quote, run taker orders."""
        self.fair = max(2.0, self.fair * math.exp(dlog))
        self._requote()
        rng = self.rng
        n_orders = poisson(rng, self.spec.rate * dt_ms / 1000.0 / MEAN_FILLS)
        trades: list = []
        aggs: list = []
        if n_orders:
            p_buy = 0.5 + 0.3 * math.tanh(z)
            times = sorted(start + rng.randrange(dt_ms) for _ in range(n_orders))
            for t_ms in times:
                fills = 1 + int(rng.expovariate(FILL_LAMBDA))
                self._execute(t_ms, rng.random() < p_buy, fills, trades, aggs)
            self.trades.extend(trades)
            self.aggs.extend(aggs)
            self.agg_times.extend(a[5] for a in aggs)
            self.sec_changed = True
        return trades, aggs

    # ---------------------------------------------------------------- history
    def trim(self, now_ms: int) -> None:
        """Forget trades older than ``history_s`` (called once per second)."""
        cutoff = now_ms - self.cfg.history_s * 1000
        if self.trades and self.trades[0][3] < cutoff:
            i = bisect_left(self.trades, cutoff, key=lambda t: t[3])
            del self.trades[:i]
        if self.agg_times and self.agg_times[0] < cutoff:
            i = bisect_left(self.agg_times, cutoff)
            del self.aggs[:i]
            del self.agg_times[:i]

    def trades_from(self, from_id: int | None, limit: int) -> list[tuple]:
        tr = self.trades
        if from_id is None:
            return tr[-limit:] if limit else []
        if not tr:
            return []
        i = max(0, from_id - tr[0][0])
        return tr[i:i + limit]

    def aggs_query(self, from_id: int | None, start: int | None, end: int | None, limit: int) -> list[tuple]:
        ag = self.aggs
        if not ag:
            return []
        if from_id is not None:
            i = max(0, from_id - ag[0][0])
            return ag[i:i + limit]
        if start is None and end is None:
            return ag[-limit:]
        times = self.agg_times
        if start is not None:
            i = bisect_left(times, start)
            j = bisect_right(times, end) if end is not None else len(times)
            return ag[i:min(j, i + limit)]
        j = bisect_right(times, end)
        return ag[max(0, j - limit):j]

    def klines_query(self, interval: str, tz: int, start: int | None, end: int | None,
                     limit: int, now: int) -> list[tuple[int, int, list[int]]]:
        series = self.klines.get((interval, tz)) or self.klines[(interval, 0)]
        rows = list(series.closed)
        cur = series.current(self.sec, self.last_price, now)
        if not rows or rows[-1][0] != cur[0]:
            rows.append(cur)
        if start is not None:
            rows = [r for r in rows if r[0] >= start]
        if end is not None:
            rows = [r for r in rows if r[0] <= end]
        return rows[:limit] if start is not None else rows[-limit:]

    def ticker_stats(self, now: int) -> list[int]:
        return self.ticker.stats(now, self.sec, self.last_price)

    # ---------------------------------------------------------------- seconds
    def close_second(self, sec_start: int, listener: Listener, now: int) -> None:
        agg = self.sec if self.sec is not None else empty_agg(self.last_price)
        self.sec = None
        emit_open = (sec_start + 1000) % 2000 == 0
        for (iv, tz), series in self.klines.items():
            done = series.add_second(sec_start, agg, self.last_price)
            if done is not None:
                listener.on_kline(self, iv, tz, done[0], done[1], done[2], True, now)
            elif emit_open and iv != "1s":
                listener.on_kline(self, iv, tz, series.cur_t, series.cur_T, list(series.cur), False, now)
        self.ticker.add(sec_start, agg)
        self.ticker.evict(sec_start + 1000)
        listener.on_ticker(self, now)
        self.sec_changed = False


class Market:
    """All symbols, advanced together so their price shocks can be correlated."""

    def __init__(self, cfg: SimConfig, start_ms: int, listener: Listener | None = None) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.listener: Listener = listener or NullListener()
        self.step_ms = cfg.step_ms
        self.t = start_ms // self.step_ms * self.step_ms  # start of the next step
        self.symbols: dict[str, SymbolMarket] = {}
        for i, spec in enumerate(cfg.symbols):
            rng = random.Random(f"{cfg.seed}/{spec.symbol}")
            self.symbols[spec.symbol] = SymbolMarket(spec, cfg, rng, start_ms)
        for sm in self.symbols.values():
            sm.win100 = (sm.update_id + 1, {}, {})
            sm.win1000 = (sm.update_id + 1, {}, {})

    def advance(self, now_ms: int, max_catchup_ms: int = 600_000) -> int:
        """Run every step that ended at or before ``now_ms``; returns steps run."""
        if now_ms - self.t > max_catchup_ms:  # e.g. a suspended laptop: skip ahead
            self.t = (now_ms - max_catchup_ms) // self.step_ms * self.step_ms
        steps = 0
        dt = self.step_ms
        rho = self.cfg.correlation
        a, b = math.sqrt(rho), math.sqrt(1.0 - rho)
        jump_p = self.cfg.jump_rate_per_hour * dt / 3_600_000
        lst = self.listener
        while self.t + dt <= now_ms:
            start, end = self.t, self.t + dt
            common = self.rng.gauss(0.0, 1.0)
            jump = self.rng.gauss(0.0, self.cfg.jump_size) if self.rng.random() < jump_p else 0.0
            for sm in self.symbols.values():
                z = a * common + b * sm.rng.gauss(0.0, 1.0)
                sigma = sm.spec.volatility * math.sqrt(dt / YEAR_MS)
                trades, aggs = sm.step(start, dt, sigma * z + jump, z)
                if trades:
                    lst.on_trades(sm, trades, aggs, now_ms)
                bt = sm.book_top()
                if bt != sm.last_bt:
                    sm.last_bt = bt
                    lst.on_book_ticker(sm, now_ms)
            if end % 100 == 0:
                for sm in self.symbols.values():
                    self._flush_depth(sm, 100, now_ms)
                    if end % 1000 == 0:
                        self._flush_depth(sm, 1000, now_ms)
            if end % 1000 == 0:
                for sm in self.symbols.values():
                    sm.close_second(end - 1000, lst, now_ms)
                    sm.trim(end)
                lst.on_second(now_ms)
            self.t = end
            steps += 1
        return steps

    def _flush_depth(self, sm: SymbolMarket, speed: int, now: int) -> None:
        win = sm.win100 if speed == 100 else sm.win1000
        first, bids, asks = win
        if sm.update_id >= first:
            self.listener.on_depth(sm, speed, first, sm.update_id, bids, asks, now)
        self.listener.on_partial_depth(sm, speed, now)
        new = (sm.update_id + 1, {}, {})
        if speed == 100:
            sm.win100 = new
        else:
            sm.win1000 = new
