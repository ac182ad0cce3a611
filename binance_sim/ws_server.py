"""WebSocket side: URL forms, per-connection state, heartbeats and limits.

The handler uses aiohttp for the handshake and for *reading*; data frames are
written straight to the transport as pre-framed bytes (compression is never
negotiated, so a frame built once is valid for every subscriber).  Control
replies, pings and the serverShutdown event go through the same write path so
frame order on the wire is the order of the calls.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote

import orjson
from aiohttp import WSMsgType, web

from . import control
from .faults import FaultSpec, FaultState
from .publisher import ws_text_frame
from .ratelimit import MessageRateLimiter
from .streams import parse_stream

if TYPE_CHECKING:
    from .server import SimulatorServer

log = logging.getLogger("binance_sim.ws")
SIM_KEY: web.AppKey = web.AppKey("sim", object)


class Connection:
    """One client websocket (implements control.ConnState and publisher.Subscriber)."""

    def __init__(self, server: "SimulatorServer", ws: web.WebSocketResponse, cid: int,
                 path: str, combined: bool, micro: bool, peer: str) -> None:
        self.server = server
        self.ws = ws
        self.transport = ws._writer.transport  # type: ignore[union-attr]
        self.id = cid
        self.path = path
        self.peer = peer
        self.combined = combined
        self.micro = micro
        self.variant = (1 if combined else 0) | (2 if micro else 0)
        self.max_streams = server.cfg.max_streams
        self.streams: dict[str, str] = {}  # subscribed name -> publish key
        self.out: list[bytes] = []
        self.sent = 0
        self.faults: FaultState | None = None
        now = time.monotonic()
        self.opened = now
        self.last_ping = now
        self.pings: dict[bytes, float] = {}  # outstanding ping payload -> sent at
        self.rate = MessageRateLimiter(server.cfg.max_incoming_per_s)
        self.closed = False
        self.close_reason = ""

    # ------------------------------------------------------ control.ConnState
    def subscriptions(self) -> list[str]:
        return list(self.streams)

    def add_streams(self, names: list[str]) -> None:
        pub = self.server.publisher
        for n in names:
            if n in self.streams:
                continue
            key = parse_stream(n).key  # type: ignore[union-attr]
            self.streams[n] = key
            pub.subscribe(self, key)

    def remove_streams(self, names: list[str]) -> None:
        pub = self.server.publisher
        for n in names:
            key = self.streams.pop(n, None)
            if key is not None and key not in self.streams.values():
                pub.unsubscribe(self, key)

    def set_combined(self, value: bool) -> None:
        self.combined = value
        self.variant = (1 if value else 0) | (self.variant & 2)

    # ------------------------------------------------------------- writing
    def arm(self, spec: FaultSpec) -> None:
        self.faults = FaultState(spec, time.monotonic())

    def write(self, data: bytes) -> None:
        if not self.closed and not self.transport.is_closing():
            self.transport.write(data)

    def send_obj(self, obj: object) -> None:
        self.write(ws_text_frame(orjson.dumps(obj)))

    def flush(self, now_ms: int) -> None:
        out = self.out
        if not out:
            return
        self.out = []
        if self.closed:
            return
        fs = self.faults
        if fs is not None:
            out = fs.process(out, time.monotonic(), now_ms, ws_text_frame)
        if out:
            self.write(out[0] if len(out) == 1 else b"".join(out))
            self.sent += len(out)
        if fs is not None and fs.drop_now:
            self.drop("fault: drop")
        elif self.transport.get_write_buffer_size() > self.server.cfg.max_write_buffer:
            self.drop("slow consumer")

    # ------------------------------------------------------------- closing
    def drop(self, reason: str) -> None:
        """Abrupt TCP close (no close frame), or a 1011 close frame in 'close' mode."""
        if self.closed:
            return
        mode = self.faults.spec.drop_mode if self.faults else "abort"
        if mode == "close" and reason.startswith("fault"):
            self.close(1011, "simulated failure")
            return
        self.closed = True
        self.close_reason = reason
        self.transport.abort()

    def close(self, code: int, reason: str) -> None:
        """Send a close frame now; the TCP connection goes when the client answers
        (aiohttp then ends the handler) or after 2 s at the latest."""
        if self.closed:
            return
        payload = code.to_bytes(2, "big") + reason.encode()[:120]
        self.write(bytes((0x88, len(payload))) + payload)
        self.closed = True
        self.close_reason = reason
        self.server.loop.call_later(2.0, self.transport.abort)

    def shutdown_event(self, now_ms: int) -> None:
        ev = {"e": "serverShutdown", "E": now_ms * (1000 if self.micro else 1)}
        self.send_obj({"stream": "!serverShutdown", "data": ev} if self.combined else ev)

    # ----------------------------------------------------------- heartbeats
    def housekeeping(self, now: float) -> None:
        cfg = self.server.cfg
        if self.closed:
            return
        if now - self.opened >= cfg.max_lifetime_s:
            self.close(1000, "Connection lifetime exceeded")
            return
        fs = self.faults
        if fs is not None:
            fs.check_time(now)
            if fs.drop_now:
                self.drop("fault: drop")
                return
            if fs.stalled(now):
                return  # a stalled server sends nothing, not even pings
        if self.pings and now - min(self.pings.values()) >= cfg.pong_timeout_s:
            self.close(1008, "Pong timeout")
            return
        if now - self.last_ping >= cfg.ping_interval_s:
            payload = str(int(time.time() * 1000)).encode()
            self.pings[payload] = now
            self.last_ping = now
            self.write(bytes((0x89, len(payload))) + payload)

    def on_pong(self, payload: bytes) -> None:
        if bytes(payload) in self.pings:  # unsolicited pongs do not keep the connection alive
            self.pings.clear()


def _streams_from_request(request: web.Request) -> tuple[str, bool, list[str]] | None:
    """Returns (kind, combined, names) or None when the path is not a stream URL."""
    path = unquote(request.path)
    if path == "/ws" or path == "/ws/":
        return "ws", False, []
    if path.startswith("/ws/"):
        return "ws", False, [unquote(n) for n in path[4:].split("/") if n]
    if path in ("/stream", "/stream/"):
        q = request.query.get("streams", "")
        q = unquote(q)
        return "stream", True, [n for n in q.split("/") if n]
    return None


async def ws_handler(request: web.Request) -> web.StreamResponse:
    server: SimulatorServer = request.app[SIM_KEY]  # type: ignore[assignment]
    parsed = _streams_from_request(request)
    if parsed is None:
        raise web.HTTPNotFound()
    _, combined, names = parsed
    status = server.faults.should_refuse()
    if status is not None:
        return web.json_response({"code": -1008, "msg": "Service unavailable (simulated)."}, status=status)
    bad = [n for n in names if parse_stream(n) is None]
    if bad and server.cfg.invalid_url_stream == "reject":
        return web.json_response({"code": 2, "msg": f"Invalid request: invalid stream {bad[0]}"}, status=400)
    names = [n for n in dict.fromkeys(names) if n not in bad]
    if len(names) > server.cfg.max_streams:
        return web.json_response({"code": 2, "msg": "Invalid request: too many streams"}, status=400)
    tu = request.query.get("timeUnit", "MILLISECOND")
    if tu not in ("MILLISECOND", "millisecond", "MICROSECOND", "microsecond"):
        return web.json_response({"code": 2, "msg": "Invalid request: invalid timeUnit"}, status=400)
    ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=64 * 1024, autoclose=True)
    await ws.prepare(request)
    conn = Connection(server, ws, server.next_conn_id(), request.path_qs, combined,
                      tu.upper() == "MICROSECOND", request.remote or "")
    spec = server.faults.take_for_new_connection()
    if spec is not None:
        conn.arm(spec)
    conn.add_streams(names)
    server.connections[conn.id] = conn
    log.info("ws open id=%s peer=%s path=%s streams=%d", conn.id, conn.peer, conn.path, len(names))
    try:
        async for msg in ws:
            now = time.monotonic()
            if conn.closed:
                continue
            if not conn.rate.hit(now):
                conn.close(1008, "Too many requests")
                continue
            if msg.type == WSMsgType.TEXT:
                conn.send_obj(control.handle(conn, msg.data))
            elif msg.type == WSMsgType.PING:
                conn.write(bytes((0x8A, len(msg.data))) + bytes(msg.data))
            elif msg.type == WSMsgType.PONG:
                conn.on_pong(msg.data)
            elif msg.type == WSMsgType.BINARY:
                conn.send_obj(control.err(3, "Invalid JSON: expected value at line 1 column 1"))
            else:
                break
    finally:
        conn.closed = True
        server.publisher.drop(conn, set(conn.streams.values()))
        server.connections.pop(conn.id, None)
        log.info("ws closed id=%s sent=%d reason=%s", conn.id, conn.sent, conn.close_reason or "client")
    return ws
