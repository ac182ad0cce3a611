"""Helpers for simulator integration tests (real server, real clients)."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import websockets

from binance_sim import SimConfig, SymbolSpec


def cfg(**kw) -> SimConfig:
    kw.setdefault("symbols", [SymbolSpec.default("BTCUSDT", rate=200), SymbolSpec.default("ETHUSDT", rate=100)])
    return SimConfig(**kw)


def http(url: str, method: str = "GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, dict(e.headers), json.loads(body) if body else None


async def recv_json(ws, timeout: float = 5.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def collect(url: str, n: int, timeout: float = 10.0, **kw) -> list:
    out = []
    async with websockets.connect(url, **kw) as ws:
        while len(out) < n:
            out.append(await recv_json(ws, timeout))
    return out


def run(coro):
    return asyncio.run(coro)
