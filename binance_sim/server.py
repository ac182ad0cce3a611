"""SimulatorServer: one aiohttp app serving streams, REST and the /_sim API.

Public API for tests::

    async with SimulatorServer(SimConfig()) as sim:      # binds 127.0.0.1:<ephemeral>
        ...sim.ws_url, sim.rest_url...

    handle = run_in_thread(SimConfig(seed=7))           # for sync tests
    handle.ws_url; handle.control.arm_next(drop_after_messages=10); handle.stop()

One process, one event loop: the tick task advances the market to "now",
the publisher fans events out to connection outboxes, then every outbox is
flushed with a single write.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import orjson
from aiohttp import web

from . import streams as S
from .clock import Clock
from .config import SimConfig
from .control_auth import control_middlewares
from .faults import FaultController, FaultSpec, SimControl
from .market import Market, SymbolMarket
from .publisher import Publisher
from .ratelimit import WeightLimiter
from .rest import Rest
from .ws_server import SIM_KEY, Connection, ws_handler

log = logging.getLogger("binance_sim")


class SimulatorServer:
    """The simulator; use as an async context manager or call start()/stop()."""

    def __init__(self, cfg: SimConfig | None = None, clock: Clock | None = None) -> None:
        self.cfg = cfg or SimConfig()
        self.clock = clock or Clock()
        self.publisher = Publisher(self.cfg.ticker_window_s * 1000)
        self.market = Market(self.cfg, self.clock.now_ms(), self.publisher)
        self.limiter = WeightLimiter(self.clock, self.cfg.weight_limit_1m)
        self.faults = FaultController(self.cfg.faults or None)
        self.connections: dict[int, Connection] = {}
        self._conn_seq = 0
        self._stale: dict[str, list] = {}
        self._tasks: list[asyncio.Task] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.replayer = None
        self.stopping = False

    # ------------------------------------------------------------ lifecycle
    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024, middlewares=control_middlewares(self.cfg.control_token))
        app[SIM_KEY] = self
        Rest(self).routes(app)
        for path in ("/ws", "/ws/", "/ws/{tail:.*}", "/stream", "/stream/"):
            app.router.add_get(path, ws_handler)
        r = app.router
        r.add_get("/_sim/status", self._api_status)
        r.add_post("/_sim/faults/next", self._api_next)
        r.add_post("/_sim/faults/default", self._api_default)
        r.add_post("/_sim/connections/{cid}/faults", self._api_conn)
        r.add_post("/_sim/refuse", self._api_refuse)
        r.add_post("/_sim/rest_fault", self._api_rest_fault)
        r.add_post("/_sim/stale_depth", self._api_stale)
        r.add_post("/_sim/server_shutdown", self._api_shutdown)
        r.add_post("/_sim/disconnect_all", self._api_disconnect)
        r.add_post("/_sim/reset", self._api_reset)
        return app

    async def start(self) -> "SimulatorServer":
        self.loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        ssl_ctx = None
        if self.cfg.tls_cert:
            from .tls import server_context
            ssl_ctx = server_context(self.cfg.tls_cert, self.cfg.tls_key or self.cfg.tls_cert)
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port, reuse_address=True, backlog=1024,
                           ssl_context=ssl_ctx)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.cfg.replay_file:
            from .replay import Replayer
            self.replayer = Replayer(self, self.cfg.replay_file, self.cfg.replay_speed, self.cfg.replay_loop,
                                     self.cfg.replay_wait_for_client)
            self._tasks.append(asyncio.create_task(self.replayer.run()))
        else:
            self._tasks.append(asyncio.create_task(self._tick_loop()))
        self._tasks.append(asyncio.create_task(self._housekeeping_loop()))
        return self

    async def stop(self, shutdown_event: bool = True) -> None:
        """Graceful stop: serverShutdown to every client, close frames, then down."""
        if self.stopping:
            return
        self.stopping = True
        now = self.clock.now_ms()
        for c in list(self.connections.values()):
            c.flush(now)
            if shutdown_event:
                c.shutdown_event(now)
            c.close(1001, "Server shutdown")
        if self.connections:
            await asyncio.sleep(0.2)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> "SimulatorServer":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.cfg.tls_cert else 'ws'}://{self.cfg.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.cfg.tls_cert else 'http'}://{self.cfg.host}:{self.port}"

    def next_conn_id(self) -> int:
        self._conn_seq += 1
        return self._conn_seq

    # --------------------------------------------------------------- loops
    def flush_all(self) -> None:
        now = self.clock.now_ms()
        for c in list(self.connections.values()):
            if c.out:
                c.flush(now)

    async def _tick_loop(self) -> None:
        step = self.cfg.step_ms
        while True:
            now = self.clock.now_ms()
            try:
                self.market.advance(now)
                self.flush_all()
            except Exception:  # noqa: BLE001 - keep serving; a bug must not kill the server
                log.exception("tick failed")
            await asyncio.sleep((step - self.clock.now_ms() % step) / 1000 + 0.0005)

    async def _housekeeping_loop(self) -> None:
        cfg = self.cfg
        period = max(0.01, min(0.5, cfg.ping_interval_s / 4, cfg.pong_timeout_s / 4, cfg.max_lifetime_s / 4))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for c in list(self.connections.values()):
                try:
                    c.housekeeping(now)
                except Exception:  # noqa: BLE001
                    log.exception("housekeeping failed for connection %s", c.id)

    # ------------------------------------------------------- market access
    def symbol_market(self, symbol: str) -> SymbolMarket | None:
        return self.market.symbols.get(symbol)

    def has_symbol(self, symbol: str) -> bool:
        return self.cfg.spec(symbol) is not None

    def exchange_info(self, names: list[str], status: str | None = None) -> dict:
        syms = []
        for n in names:
            sp = self.cfg.spec(n)
            if sp is None or (status and sp.status != status):
                continue
            syms.append({
                "symbol": sp.symbol, "status": sp.status, "baseAsset": sp.base, "baseAssetPrecision": 8,
                "quoteAsset": sp.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": True, "ocoAllowed": True, "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False, "permissions": [], "permissionSets": [["SPOT"]],
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": S.fmt(sp.tick_units),
                     "maxPrice": "1000000.00000000", "tickSize": S.fmt(sp.tick_units)},
                    {"filterType": "LOT_SIZE", "minQty": S.fmt(sp.step_units),
                     "maxQty": "9000000.00000000", "stepSize": S.fmt(sp.step_units)},
                    {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                     "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                ],
            })
        return {
            "timezone": "UTC", "serverTime": self.clock.now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.cfg.weight_limit_1m},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                 "limit": self.cfg.raw_requests_limit_5m},
            ],
            "exchangeFilters": [], "symbols": syms,
        }

    def take_stale_depth(self, symbol: str) -> dict | None:
        entry = self._stale.get(symbol)
        if not entry or entry[0] <= 0:
            return None
        entry[0] -= 1
        return entry[1]

    # ------------------------------------------------------------ /_sim API
    async def _body(self, request: web.Request) -> dict:
        if not request.can_read_body:
            return {}
        try:
            data = orjson.loads(await request.read())
        except orjson.JSONDecodeError as e:
            raise web.HTTPBadRequest(text=f"invalid JSON: {e}")
        return data if isinstance(data, dict) else {}

    def _spec(self, d: dict) -> FaultSpec:
        try:
            return FaultSpec.from_dict(d)
        except (TypeError, ValueError) as e:
            raise web.HTTPBadRequest(text=str(e))

    async def _api_status(self, request: web.Request) -> web.Response:
        return web.json_response({
            "mode": "replay" if self.cfg.replay_file else "synthetic",
            "delivered": self.publisher.delivered,
            "symbols": {s: {"next_trade_id": m.next_trade_id, "update_id": m.update_id}
                        for s, m in self.market.symbols.items()},
            "connections": [{"id": c.id, "path": c.path, "streams": c.subscriptions(), "sent": c.sent,
                             "combined": c.combined, "faults": c.faults.spec.to_dict() if c.faults else None}
                            for c in self.connections.values()],
            "replay": self.replayer.status() if self.replayer else None,
        })

    async def _api_next(self, request: web.Request) -> web.Response:
        d = await self._body(request)
        count = int(d.pop("count", 1))
        self.faults.arm_next(self._spec(d), count)
        return web.json_response({"armed": count})

    async def _api_default(self, request: web.Request) -> web.Response:
        d = await self._body(request)
        self.faults.default = self._spec(d) if d else None
        return web.json_response({"default": d or None})

    async def _api_conn(self, request: web.Request) -> web.Response:
        c = self.connections.get(int(request.match_info["cid"]))
        if c is None:
            raise web.HTTPNotFound(text="no such connection")
        c.arm(self._spec(await self._body(request)))
        return web.json_response({"id": c.id})

    async def _api_refuse(self, request: web.Request) -> web.Response:
        d = await self._body(request)
        self.faults.refuse(float(d.get("seconds", 0)), int(d.get("count", 0)), int(d.get("status", 503)))
        return web.json_response({"ok": True})

    async def _api_rest_fault(self, request: web.Request) -> web.Response:
        d = await self._body(request)
        self.faults.arm_rest(int(d.get("status", 429)), int(d.get("count", 1)),
                             int(d.get("retry_after", 1)), str(d.get("path", "")))
        return web.json_response({"ok": True})

    async def _api_stale(self, request: web.Request) -> web.Response:
        d = await self._body(request)
        m = self.symbol_market(str(d.get("symbol", "")))
        if m is None:
            raise web.HTTPNotFound(text="unknown symbol")
        u, bids, asks = m.depth(5000)
        self._stale[m.symbol] = [int(d.get("count", 1)), S.partial_depth(self.publisher.fmt(m), u, bids, asks)]
        return web.json_response({"lastUpdateId": u})

    async def _api_shutdown(self, request: web.Request) -> web.Response:
        d = await self._body(request)
        now = self.clock.now_ms()
        for c in list(self.connections.values()):
            c.flush(now)
            c.shutdown_event(now)
            if d.get("close"):
                c.close(1001, "Server shutdown")
        return web.json_response({"notified": len(self.connections)})

    async def _api_disconnect(self, request: web.Request) -> web.Response:
        d = await self._body(request)
        n = len(self.connections)
        for c in list(self.connections.values()):
            c.close(int(d.get("code", 1001)), "Disconnected by simulator")
        return web.json_response({"closed": n})

    async def _api_reset(self, request: web.Request) -> web.Response:
        self.faults.reset()
        self._stale.clear()
        for c in self.connections.values():
            c.faults = None
        return web.json_response({"ok": True})


class ThreadedSimulator:
    """Handle returned by :func:`run_in_thread`."""

    def __init__(self, server: SimulatorServer, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.server, self.loop, self.thread = server, loop, thread
        self.ws_url, self.rest_url = server.ws_url, server.rest_url
        self.port = server.port
        self.control = SimControl(self.rest_url, token=server.cfg.control_token)

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the simulator's loop and return its result."""
        async def _run():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(_run(), self.loop).result(10)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.thread.is_alive():
            return
        fut = asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop)
        try:
            fut.result(timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)

    def __enter__(self) -> "ThreadedSimulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def run_in_thread(cfg: SimConfig | None = None, clock: Clock | None = None) -> ThreadedSimulator:
    """Start a simulator on its own event loop in a daemon thread."""
    loop = asyncio.new_event_loop()
    server = SimulatorServer(cfg, clock)
    ready = threading.Event()
    error: list[BaseException] = []

    def _main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as e:  # noqa: BLE001
            error.append(e)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.close()

    th = threading.Thread(target=_main, name="binance-sim", daemon=True)
    th.start()
    ready.wait(30)
    if error:
        raise error[0]
    return ThreadedSimulator(server, loop, th)
