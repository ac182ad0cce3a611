"""Serialised candle pages, kept until the next candles sync. A day of 1m candles with indicators is
~0.5 MB of JSON; building it costs far more than sending it, and the same pages are asked for by every
browser. Entries are dropped on each `serving_sync` NOTIFY of the candles table, and the cache is off
whenever the LISTEN connection is down (a missed NOTIFY must never leave a stale page)."""
from __future__ import annotations

import asyncio
import gzip
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass


@dataclass
class Page:
    symbol: str
    body: bytes
    _gz: bytes | None = None

    async def gzipped(self) -> bytes:
        if self._gz is None:   # zlib releases the GIL: compress beside the event loop, once per page
            self._gz = await asyncio.to_thread(gzip.compress, self.body, 5)
        return self._gz

    def nbytes(self) -> int:
        return len(self.body) + len(self._gz or b"")


class PageCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes           # bodies (+ their gzip copies) kept, least recently used go first
        self.enabled = False                 # switched by the live listener
        self._pages: OrderedDict[Hashable, Page] = OrderedDict()
        self.generation = 0                  # bumped on every invalidation: a page built before it is not stored
        self._building: dict[tuple[Hashable, int], asyncio.Future] = {}

    async def get_or_build(self, key: Hashable, symbol: str, build: Callable[[], Awaitable[bytes]]) -> Page:
        """The cached page, or one build shared by every request that asks for it meanwhile (50 browsers
        opening the same chart after a sync cause one query, not 50)."""
        page = self.get(key)
        if page is not None:
            return page
        generation = self.generation
        flight = (key, generation)          # a request after a sync never joins a build from before it
        task = self._building.get(flight)
        if task is None:
            task = self._building[flight] = asyncio.ensure_future(build())
            task.add_done_callback(lambda _: self._building.pop(flight, None))
        body = await asyncio.shield(task)   # one client going away does not cancel the others' build
        page = Page(symbol, body)
        self.put(key, page, generation)
        return self.get(key) or page

    def get(self, key: Hashable) -> Page | None:
        if not self.enabled:
            return None
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, page: Page, generation: int) -> None:
        if not self.enabled or len(page.body) > self.max_bytes or generation != self.generation:
            return
        self._pages[key] = page
        while self.size() > self.max_bytes:
            self._pages.popitem(last=False)

    def size(self) -> int:
        return sum(p.nbytes() for p in self._pages.values())

    def invalidate(self, symbols: Iterable[str] | None = None) -> None:
        """Drop the pages of `symbols` (all pages when None)."""
        self.generation += 1
        if symbols is None:
            self._pages.clear()
            return
        wanted = set(symbols)
        for key in [k for k, p in self._pages.items() if p.symbol in wanted]:
            del self._pages[key]

    def set_enabled(self, on: bool) -> None:
        self.enabled = on
        self.invalidate()
