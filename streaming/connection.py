"""Websocket connections to the combined-stream endpoint (spec §1).

* Sharding: at most ``max_streams_per_connection`` (≤ 1024) streams per connection, in symbol priority
  order. Streams go in the URL while it stays short (~8 KB URLs are rejected); the rest is SUBSCRIBEd in
  batches, at most 4 control messages per second (limit: 5 incoming messages/s per connection).
* Client: aiohttp's websocket client, whose frame reader is compiled (``aiohttp._websocket.reader_c``);
  the pure-Python ``websockets`` frame parser was the largest single cost of the hot path. Frames are
  read undecoded (``decode_text=False``: bytes, no UTF-8 round trip).
* Heartbeat: every server ping is answered with a pong echoing its payload (``autoping``; aiohttp does
  it inside ``receive()``, as soon as the reader reaches the ping in its queue — so only while Kafka
  backpressure holds the reader does a ping wait, like the frames before it); our own keepalive pings
  (``heartbeat`` = ``ping_interval_s``, no pong within half of it closes the socket) detect dead TCP,
  and a data watchdog (``stall_timeout_s``) detects a live socket that stopped sending data.
* Reconnect: after any close/error/stall, exponential backoff with jitter, forever, within the
  300-attempts-per-5-minutes guard. Continuity is restored by the pipeline's gap detection + REST backfill.
* Rollover: before the 24 h limit (``max_age_s``) or on ``serverShutdown``, a new connection is opened
  while the old one keeps reading; once the new one delivers data, both run ``overlap_s`` more seconds,
  then the old one closes. Duplicates from the overlap are dropped by the sequencers.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import WSMsgType

from streaming.backoff import AttemptWindow, Backoff
from streaming.config import ConnectionSettings

if TYPE_CHECKING:
    from streaming.pipeline import Pipeline
    from streaming.producer import KafkaSink

log = logging.getLogger("streaming.connection")
SUBSCRIBE_BATCH = 200


def shard_streams(streams: list[str], per_connection: int) -> list[list[str]]:
    """Split the (priority-ordered) stream list into connections of at most ``per_connection`` streams."""
    per = max(1, min(1024, per_connection))
    return [streams[i:i + per] for i in range(0, len(streams), per)]


def split_for_url(base: str, streams: list[str], max_chars: int) -> tuple[str, list[str]]:
    """(URL carrying as many streams as fit in ``max_chars``, streams to SUBSCRIBE afterwards)."""
    url = base.rstrip("/") + "/stream?streams="
    n, length = 0, len(url)
    for s in streams:
        add = len(quote(s, safe="@_!")) + (1 if n else 0)
        if length + add > max_chars:
            break
        length += add
        n += 1
    n = max(n, 1)
    return url + "/".join(quote(s, safe="@_!") for s in streams[:n]), streams[n:]


class Leg:
    """One open websocket (and its HTTP session) and the task reading it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession, shard: int,
                 number: int) -> None:
        self.ws, self.session, self.shard, self.number = ws, session, shard, number
        self.opened = self.last_rx = time.monotonic()
        self.frames = 0
        self.first_data = asyncio.Event()
        self.rollover_requested = False
        self.close_reason = ""
        self.task: asyncio.Task | None = None

    def request_rollover(self) -> None:
        self.rollover_requested = True

    async def read(self, pipeline: "Pipeline", sink: "KafkaSink") -> None:
        receive, on_frame, mono = self.ws.receive, pipeline.on_frame, time.monotonic
        cb = self.request_rollover
        text, binary = WSMsgType.TEXT, WSMsgType.BINARY
        first = True
        try:
            while True:
                msg = await receive()
                t = msg.type
                if t is text or t is binary:
                    raw = msg.data
                    self.last_rx = mono()
                    self.frames += 1
                    if first:
                        first = False
                        self.first_data.set()
                    on_frame(raw if type(raw) is bytes else raw.encode(), cb)
                    if sink.blocked:
                        await sink.wait_writable()
                    continue
                if t is WSMsgType.ERROR:
                    e = msg.data
                    self.close_reason = f"error {e!r}"
                    if isinstance(e, aiohttp.WebSocketError) and e.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
                        log.error("frame above the websocket size limit; reconnecting",
                                  extra={"shard": self.shard, "error": str(e)})
                    return
                if t is WSMsgType.CLOSE or t is WSMsgType.CLOSING or t is WSMsgType.CLOSED:
                    ws = self.ws
                    code = ws.close_code if t is not WSMsgType.CLOSE else msg.data
                    reason = (msg.extra or "") if t is WSMsgType.CLOSE else ""
                    self.close_reason = f"closed code={code} reason={reason}".strip()
                    return
                # PING/PONG are handled inside receive() (autoping); nothing else is expected
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a reader must never kill the shard loop
            log.exception("reader failed", extra={"shard": self.shard})
            self.close_reason = f"error {e!r}"

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        try:
            await asyncio.wait_for(self.ws.close(), 3)
        except Exception:  # noqa: BLE001
            pass
        try:
            await self.session.close()
        except Exception:  # noqa: BLE001
            pass
        if self.task is not None:
            try:
                await self.task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass


class ShardConnection:
    """Keeps one shard's streams flowing forever (until the service stops)."""

    def __init__(self, shard: int, streams: list[str], ws_base: str, cfg: ConnectionSettings,
                 pipeline: "Pipeline", sink: "KafkaSink", attempts: AttemptWindow,
                 on_reconnect: Callable[[int, str], None], ssl: Any = True) -> None:
        self.shard, self.streams, self.ws_base, self.cfg = shard, streams, ws_base, cfg
        self.ssl = ssl  # wss:// verification (True = system CAs, or a context with the simulator's CA)
        self.pipeline, self.sink, self.attempts, self.on_reconnect = pipeline, sink, attempts, on_reconnect
        self.backoff = Backoff(cfg.backoff_base_s, cfg.backoff_max_s)
        self.legs_opened = 0
        self.open_legs = 0
        self.last_error = ""

    async def _connect(self) -> Leg:
        url, rest = split_for_url(self.ws_base, self.streams, self.cfg.max_url_chars)
        while True:
            wait = self.attempts.delay()
            if wait > 0:
                log.warning("connection attempt limit reached; waiting", extra={"shard": self.shard, "wait_s": wait})
                await asyncio.sleep(wait)
                continue
            session = aiohttp.ClientSession()
            try:
                ws = await asyncio.wait_for(session.ws_connect(
                    url, heartbeat=self.cfg.ping_interval_s, autoping=True, autoclose=True, compress=0, ssl=self.ssl,
                    max_msg_size=max(16 * 1024 * 1024, 4 * self.cfg.max_frame_bytes), decode_text=False,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2)), 10)
            except (OSError, asyncio.TimeoutError, aiohttp.ClientError, ValueError) as e:
                await session.close()
                self.last_error = repr(e)
                delay = self.backoff.next()
                log.warning("connect failed; retrying", extra={"shard": self.shard, "error": repr(e)[:300],
                                                                "retry_in_s": round(delay, 2)})
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await session.close()
                raise
            self.legs_opened += 1
            leg = Leg(ws, session, self.shard, self.legs_opened)
            leg.task = asyncio.get_running_loop().create_task(leg.read(self.pipeline, self.sink))
            self.open_legs += 1
            log.info("connected", extra={"shard": self.shard, "leg": leg.number, "streams": len(self.streams),
                                         "subscribe_after": len(rest)})
            for i in range(0, len(rest), SUBSCRIBE_BATCH):
                await ws.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": rest[i:i + SUBSCRIBE_BATCH],
                                                "id": i // SUBSCRIBE_BATCH + 1}).decode())
                await asyncio.sleep(0.25)
            return leg

    async def _watch(self, leg: Leg) -> str:
        """Wait until the leg ends ('closed'), stalls ('stall') or must be rolled over."""
        cfg = self.cfg
        while True:
            assert leg.task is not None
            done, _ = await asyncio.wait({leg.task}, timeout=min(1.0, cfg.stall_timeout_s / 4, cfg.max_age_s / 4))
            if done:
                return "closed"
            now = time.monotonic()
            if leg.rollover_requested:
                return "server_shutdown"
            if now - leg.opened >= cfg.max_age_s:
                return "max_age"
            if now - leg.last_rx >= cfg.stall_timeout_s:
                return "stall"

    async def _close_leg(self, leg: Leg) -> None:
        await leg.close()
        self.open_legs -= 1

    async def run(self) -> None:
        leg: Leg | None = None
        reason = ""
        try:
            while True:
                if leg is None:
                    leg = await self._connect()
                    if reason:
                        self.on_reconnect(self.shard, reason)
                why = await self._watch(leg)
                if why in ("max_age", "server_shutdown"):
                    log.info("rolling over connection", extra={"shard": self.shard, "reason": why, "leg": leg.number})
                    new = await self._connect()
                    self.on_reconnect(self.shard, why)
                    try:
                        await asyncio.wait_for(new.first_data.wait(), self.cfg.stall_timeout_s)
                    except asyncio.TimeoutError:
                        pass
                    await asyncio.sleep(self.cfg.overlap_s)
                    await self._close_leg(leg)
                    leg, reason = new, ""
                    continue
                lived = time.monotonic() - leg.opened
                detail = leg.close_reason or why
                await self._close_leg(leg)
                if leg.frames and lived > 5:
                    self.backoff.reset()
                delay = self.backoff.next()
                log.warning("connection lost; reconnecting", extra={"shard": self.shard, "reason": why,
                                                                     "detail": detail, "retry_in_s": round(delay, 2)})
                leg, reason = None, why
                await asyncio.sleep(delay)
        finally:
            if leg is not None:
                await self._close_leg(leg)
