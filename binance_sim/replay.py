"""Replay mode: play recorded frames instead of the synthetic market.

Archive format (JSON Lines, optionally gzip-compressed when the name ends in
``.gz``), one JSON object per line::

    {"recv_ts_ms": 1752572415240, "stream": "btcusdt@trade", "data": {...raw payload...}}

* ``recv_ts_ms`` – when the frame was received (epoch ms); drives pacing.
* ``stream``     – the stream name the payload belongs to (as in the combined wrapper).
* ``data``       – the untouched exchange payload (object or array).

A Kafka envelope as written by the streaming service (ARCHITECTURE.md) is also
accepted: the keys ``stream`` and ``payload`` are used (``payload`` may be the
object or its JSON text) and the time is taken from the first present of
``recv_ts_ms``, ``ingest_ts_ms``, ``ingest_time_ms``, ``ingest_ts``,
``event_time_ms``, ``payload.E``.  Blank lines and lines starting with ``#``
are skipped; unparseable lines are counted and skipped.

Frames go to subscribers of their stream exactly as recorded (same bytes for
ms and µs connections: a recording is not re-timed).  ``speed`` 1.0 plays at
the original pace, 10.0 ten times faster, 0 as fast as possible.
"""
from __future__ import annotations

import asyncio
import gzip
import logging
import time
from typing import TYPE_CHECKING, Iterator

import orjson

if TYPE_CHECKING:
    from .server import SimulatorServer

log = logging.getLogger("binance_sim.replay")
_TS_KEYS = ("recv_ts_ms", "ingest_ts_ms", "ingest_time_ms", "ingest_ts", "event_time_ms")


def parse_line(line: bytes) -> tuple[int | None, str, bytes] | None:
    """One archive line -> (ts_ms or None, stream, payload JSON bytes); None if unusable."""
    line = line.strip()
    if not line or line.startswith(b"#"):
        return None
    obj = orjson.loads(line)
    if not isinstance(obj, dict) or not isinstance(obj.get("stream"), str):
        raise ValueError("line has no 'stream'")
    if "data" in obj:
        data = obj["data"]
    elif "payload" in obj:
        data = obj["payload"]
        if isinstance(data, str):
            data = orjson.loads(data)
    else:
        raise ValueError("line has neither 'data' nor 'payload'")
    ts = None
    for k in _TS_KEYS:
        if isinstance(obj.get(k), int):
            ts = obj[k]
            break
    if ts is None and isinstance(data, dict) and isinstance(data.get("E"), int):
        ts = data["E"]
    if ts is not None and ts > 100_000_000_000_000:  # µs -> ms
        ts //= 1000
    return ts, obj["stream"], orjson.dumps(data)


def read_archive(path: str) -> Iterator[bytes]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:  # type: ignore[operator]
        yield from fh


class Replayer:
    """Plays an archive into the server's publisher."""

    def __init__(self, server: "SimulatorServer", path: str, speed: float = 1.0, loop: bool = False,
                 wait_for_client: bool = False) -> None:
        self.server, self.path, self.speed, self.loop = server, path, speed, loop
        self.wait_for_client = wait_for_client
        self.played = self.bad = 0
        self.done = False

    def status(self) -> dict:
        return {"file": self.path, "played": self.played, "bad_lines": self.bad, "done": self.done}

    async def run(self) -> None:
        srv = self.server
        while self.wait_for_client and not any(c.streams for c in srv.connections.values()):
            await asyncio.sleep(0.01)
        while True:
            await self._play_once()
            if not self.loop:
                break
        self.done = True
        log.info("replay finished: %d frames, %d bad lines", self.played, self.bad)

    async def _play_once(self) -> None:
        srv, pub = self.server, self.server.publisher
        t0 = w0 = None
        n_since_yield = 0
        for raw in read_archive(self.path):
            try:
                rec = parse_line(raw)
            except (ValueError, orjson.JSONDecodeError):
                self.bad += 1
                continue
            if rec is None:
                continue
            ts, stream, payload = rec
            if self.speed > 0 and ts is not None:
                if t0 is None:
                    t0, w0 = ts, time.monotonic()
                delay = w0 + (ts - t0) / 1000 / self.speed - time.monotonic()
                if delay > 0.001:
                    srv.flush_all()
                    await asyncio.sleep(delay)
                    n_since_yield = 0
            pub.publish(stream, lambda mult, p=payload: p)
            self.played += 1
            n_since_yield += 1
            if n_since_yield >= 500:
                srv.flush_all()
                await asyncio.sleep(0)
                n_since_yield = 0
        srv.flush_all()
