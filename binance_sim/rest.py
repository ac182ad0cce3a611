"""REST endpoints for backfill (spec §3) with Binance weights and errors.

Every reply, including errors, carries ``X-MBX-USED-WEIGHT-1M``.  Parameter
checks follow Binance's order: fault injection, mandatory/illegal params,
weight accounting (429/418), then the query itself.  Data comes from the
same market objects the streams use, so REST returns exactly the trades a
websocket client missed.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

import orjson
from aiohttp import web

from . import streams as S
from .config import KLINE_INTERVALS
from .ratelimit import WEIGHTS, depth_weight, ticker24_weight

if TYPE_CHECKING:
    from .server import SimulatorServer

_SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
_TZ_RE = re.compile(r"^([+-]?)(\d{1,2})(?::(\d{2}))?$")


class ApiError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400, headers: dict | None = None) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status, self.headers = code, msg, status, headers or {}


def _json(obj: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json",
                        headers=headers)


def _int(q, name: str, default: int | None = None) -> int | None:
    v = q.get(name)
    if v is None:
        return default
    if v == "":
        raise ApiError(-1105, f"Parameter '{name}' was empty.")
    if not re.fullmatch(r"-?\d{1,20}", v):
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(v)


def _time(q, name: str) -> int | None:
    v = _int(q, name)
    if v is not None and v > 100_000_000_000_000:  # microseconds accepted
        v //= 1000
    return v


def _limit(q, default: int, maximum: int) -> int:
    v = _int(q, "limit", default)
    assert v is not None
    if v <= 0:
        raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    return min(v, maximum)


class Rest:
    """Route table and handlers; ``server`` provides clock, market, limiter, faults."""

    PARAMS = {
        "/api/v3/ping": set(), "/api/v3/time": set(),
        "/api/v3/exchangeInfo": {"symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"},
        "/api/v3/depth": {"symbol", "limit", "symbolStatus"},
        "/api/v3/trades": {"symbol", "limit"},
        "/api/v3/historicalTrades": {"symbol", "limit", "fromId"},
        "/api/v3/aggTrades": {"symbol", "fromId", "startTime", "endTime", "limit"},
        "/api/v3/klines": {"symbol", "interval", "startTime", "endTime", "timeZone", "limit"},
        "/api/v3/uiKlines": {"symbol", "interval", "startTime", "endTime", "timeZone", "limit"},
        "/api/v3/ticker/24hr": {"symbol", "symbols", "type", "symbolStatus"},
    }

    def __init__(self, server: "SimulatorServer") -> None:
        self.s = server

    def routes(self, app: web.Application) -> None:
        table: dict[str, Callable] = {
            "/api/v3/ping": self.ping, "/api/v3/time": self.time,
            "/api/v3/exchangeInfo": self.exchange_info, "/api/v3/depth": self.depth,
            "/api/v3/trades": self.trades, "/api/v3/historicalTrades": self.historical_trades,
            "/api/v3/aggTrades": self.agg_trades, "/api/v3/klines": self.klines,
            "/api/v3/uiKlines": self.klines, "/api/v3/ticker/24hr": self.ticker_24hr,
        }
        for path, fn in table.items():
            app.router.add_get(path, self._wrap(path, fn))

    def _wrap(self, path: str, fn: Callable) -> Callable:
        async def handler(request: web.Request) -> web.Response:
            ip = request.remote or "?"
            headers: dict[str, str] = {}
            try:
                fault = self.s.faults.take_rest(path)
                if fault is not None:
                    return self._fault(fault, ip)
                q = request.query
                extra = [k for k in q if k not in self.PARAMS[path]]
                if extra:
                    raise ApiError(-1104, f"Not all sent parameters were read; read '{len(q) - len(extra)}' "
                                          f"parameter(s) but was sent '{len(q)}'.")
                weight, body = fn(q)
                status, used, retry = self.s.limiter.charge(ip, weight)
                headers["X-MBX-USED-WEIGHT-1M"] = str(used)
                if status != 200:
                    return self._limited(status, retry, headers)
                return _json(body() if callable(body) else body, headers=headers)
            except ApiError as e:
                headers.setdefault("X-MBX-USED-WEIGHT-1M", str(self.s.limiter.used(ip)))
                headers.update(e.headers)
                return _json({"code": e.code, "msg": e.msg}, e.status, headers)
        return handler

    def _limited(self, status: int, retry: int, headers: dict) -> web.Response:
        headers["Retry-After"] = str(retry)
        if status == 418:
            until = self.s.clock.now_ms() + retry * 1000
            msg = (f"Way too much request weight used; IP banned until {until}. "
                   "Please use WebSocket Streams for live updates to avoid bans.")
        else:
            msg = (f"Too much request weight used; current limit is {self.s.limiter.limit} request weight "
                   "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
        return _json({"code": -1003, "msg": msg}, status, headers)

    def _fault(self, fault: dict, ip: str) -> web.Response:
        status = fault["status"]
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.s.limiter.used(ip))}
        if status in (429, 418):
            return self._limited(status, fault["retry_after"], headers)
        code, msg = {
            503: (-1008, "Service Unavailable (simulated)."),
            504: (-1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."),
        }.get(status, (-1000, "An unknown error occurred while processing the request."))
        return _json({"code": code, "msg": msg}, status, headers)

    # ------------------------------------------------------------- helpers
    def _symbol(self, q, required: bool = True):
        v = q.get("symbol")
        if v is None:
            if required:
                raise ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
            return None
        if v == "":
            raise ApiError(-1105, "Parameter 'symbol' was empty.")
        if not _SYMBOL_RE.match(v):
            raise ApiError(-1100, "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.")
        m = self.s.symbol_market(v)
        if m is None and not self.s.has_symbol(v):
            raise ApiError(-1121, "Invalid symbol.")
        return m

    def _symbols_list(self, q) -> list[str] | None:
        raw = q.get("symbols")
        if raw is None:
            return None
        try:
            syms = orjson.loads(raw)
            assert isinstance(syms, list) and syms and all(isinstance(x, str) for x in syms)
        except Exception:  # noqa: BLE001
            raise ApiError(-1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.")
        for s in syms:
            if not self.s.has_symbol(s):
                raise ApiError(-1121, "Invalid symbol.")
        return syms

    # ------------------------------------------------------------ endpoints
    def ping(self, q):
        return WEIGHTS["/api/v3/ping"], {}

    def time(self, q):
        return WEIGHTS["/api/v3/time"], {"serverTime": self.s.clock.now_ms()}

    def exchange_info(self, q):
        if "symbol" in q and "symbols" in q:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        names = [s.symbol for s in self.s.cfg.symbols]
        if "symbol" in q:
            self._symbol(q)
            names = [q["symbol"]]
        elif "symbols" in q:
            names = self._symbols_list(q) or names
        st = q.get("symbolStatus")
        if st is not None and st not in ("TRADING", "END_OF_DAY", "HALT", "BREAK", "CANCEL_ONLY"):
            raise ApiError(-1122, "Invalid symbolStatus.")
        return WEIGHTS["/api/v3/exchangeInfo"], lambda: self.s.exchange_info(names, st)

    def depth(self, q):
        m = self._symbol(q)
        limit = _limit(q, 100, 5000)
        st = q.get("symbolStatus")
        if st is not None and m is not None and st != m.spec.status:
            raise ApiError(-1220, "The symbol's status does not match the requested symbolStatus.")

        def body():
            if m is None:
                return {"lastUpdateId": 0, "bids": [], "asks": []}
            stale = self.s.take_stale_depth(m.symbol)
            if stale is not None:
                return stale
            u, bids, asks = m.depth(limit)
            return S.partial_depth(self.s.publisher.fmt(m), u, bids, asks)
        return depth_weight(limit), body

    def trades(self, q):
        m = self._symbol(q)
        limit = _limit(q, 500, 1000)
        return WEIGHTS["/api/v3/trades"], lambda: self._trade_rows(m, None, limit)

    def historical_trades(self, q):
        m = self._symbol(q)
        limit = _limit(q, 500, 1000)
        from_id = _int(q, "fromId")
        return WEIGHTS["/api/v3/historicalTrades"], lambda: self._trade_rows(m, from_id, limit)

    def _trade_rows(self, m, from_id, limit):
        if m is None:
            return []
        f, qm = self.s.publisher.fmt(m), m.spec.quote_mult
        return [S.rest_trade(f, qm, t) for t in m.trades_from(from_id, limit)]

    def agg_trades(self, q):
        m = self._symbol(q)
        limit = _limit(q, 500, 1000)
        from_id = _int(q, "fromId")
        start, end = _time(q, "startTime"), _time(q, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and start > end:
            raise ApiError(-1128, "Combination of optional parameters invalid.")

        def body():
            if m is None:
                return []
            f = self.s.publisher.fmt(m)
            return [S.rest_agg(f, a) for a in m.aggs_query(from_id, start, end, limit)]
        return WEIGHTS["/api/v3/aggTrades"], body

    def klines(self, q):
        m = self._symbol(q)
        iv = q.get("interval")
        if iv is None:
            raise ApiError(-1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
        if iv not in KLINE_INTERVALS:
            raise ApiError(-1120, "Invalid interval.")
        limit = _limit(q, 500, 1000)
        start, end = _time(q, "startTime"), _time(q, "endTime")
        tz = q.get("timeZone", "0")
        mt = _TZ_RE.match(tz)
        if not mt:
            raise ApiError(-1130, "Data sent for parameter 'timeZone' is not valid.")
        offset = (int(mt.group(2)) * 60 + int(mt.group(3) or 0)) * 60_000 * (-1 if mt.group(1) == "-" else 1)
        if offset not in (0, 8 * 3_600_000):
            raise ApiError(-1130, "Data sent for parameter 'timeZone' is not valid.")

        def body():
            if m is None:
                return []
            f = self.s.publisher.fmt(m)
            rows = m.klines_query(iv, offset, start, end, limit, self.s.clock.now_ms())
            return [S.kline_row(f, t, T, agg) for t, T, agg in rows]
        return WEIGHTS["/api/v3/klines"], body

    def ticker_24hr(self, q):
        if "symbol" in q and "symbols" in q:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        typ = q.get("type", "FULL")
        if typ not in ("FULL", "MINI"):
            raise ApiError(-1130, "Data sent for parameter 'type' is not valid.")
        if "symbol" in q:
            m = self._symbol(q)
            return ticker24_weight(1), lambda: self._ticker(m, q["symbol"], typ)
        syms = self._symbols_list(q)
        names = syms if syms is not None else [s.symbol for s in self.s.cfg.symbols]
        weight = ticker24_weight(None if syms is None else len(syms))
        return weight, lambda: [self._ticker(self.s.symbol_market(n), n, typ) for n in names]

    def _ticker(self, m, name: str, typ: str) -> dict:
        now = self.s.clock.now_ms()
        if m is None:
            return {"symbol": name}
        st = m.ticker_stats(now)
        d = S.ticker(m.symbol, self.s.publisher.fmt(m), st, m.ticker.prev_price, m.last_qty, m.book_top(),
                     now, m.cfg.ticker_window_s * 1000, event=False)
        if typ == "MINI":
            keep = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
                    "openTime", "closeTime", "firstId", "lastId", "count")
            return {k: d[k] for k in keep}
        return d
