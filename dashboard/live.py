"""One LISTEN connection per process, fanned out to every browser over server-sent events.

PostgreSQL raises `serving_ticker` (the latest_ticker row as JSON) after each live upsert and
`serving_sync` ({"table", "rows", "symbols"}) after each sync commits. Browsers never poll tables: they
hold one EventSource each and refetch a panel only when a sync names its table."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import orjson
import psycopg
from fastapi import APIRouter, Request
from sse_starlette.sse import EventSourceResponse

log = logging.getLogger("dashboard.live")
CHANNELS = ("serving_ticker", "serving_sync")
EVENT_NAMES = {"serving_ticker": "ticker", "serving_sync": "sync"}
QUEUE_SIZE = 512          # per browser; a browser this far behind loses its oldest events (tickers supersede)

router = APIRouter(tags=["live"])


class LiveHub:
    def __init__(self, conninfo: dict, on_sync: Callable[[dict], None], on_state: Callable[[bool], None]) -> None:
        self.conninfo = conninfo
        self.on_sync, self.on_state = on_sync, on_state
        self.subscribers: set[asyncio.Queue] = set()
        self.connected = False
        self.delivered = 0

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.subscribers.discard(q)

    def publish(self, event: str, data: str) -> None:
        for q in self.subscribers:
            if q.full():
                q.get_nowait()
            q.put_nowait((event, data))
        self.delivered += 1

    async def run(self) -> None:
        """Listen forever; reconnect with backoff. While disconnected the page cache is off and browsers
        are told to resync once the connection is back (they may have missed notifications)."""
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(autocommit=True, **self.conninfo) as conn:
                    for ch in CHANNELS:
                        await conn.execute(f"LISTEN {ch}")  # constant channel names, never from a request
                    self._set_state(True)
                    self.publish("resync", "{}")
                    delay = 0.5
                    async for note in conn.notifies():
                        self._dispatch(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN connection lost (%s); retrying in %.1fs", str(exc).strip()[:200], delay)
            self._set_state(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _set_state(self, up: bool) -> None:
        self.connected = up
        self.on_state(up)

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == "serving_sync":
            try:
                msg = orjson.loads(payload)
            except orjson.JSONDecodeError:
                log.warning("serving_sync payload is not JSON: %r", payload[:200])
                msg = {}
            self.on_sync(msg if isinstance(msg, dict) else {})
        self.publish(EVENT_NAMES.get(channel, channel), payload)


# events: ticker (a latest_ticker row), sync (a finished sync), resync (reconnected: refetch everything).
# Not in the OpenAPI schema: an endless stream is no JSON operation (and a schema fuzzer would hang on it).
@router.get("/api/stream", include_in_schema=False)
async def stream(request: Request) -> EventSourceResponse:
    hub: LiveHub = request.app.state.hub
    q = hub.subscribe()

    async def events() -> AsyncIterator[dict]:
        try:
            yield {"event": "hello", "data": orjson.dumps({"listening": hub.connected}).decode()}
            while True:
                event, data = await q.get()
                yield {"event": event, "data": data}
        finally:
            hub.unsubscribe(q)

    return EventSourceResponse(events(), ping=15)
