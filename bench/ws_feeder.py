"""Benchmark feeder: a minimal Binance-shaped combined-stream websocket server that pushes trade frames
(dense ids, ``E`` = send time) as fast as possible or at a fixed rate.

Why not binance_sim: the simulator models a market (~tens of thousands of events/s at most in Python);
measuring the ingest service needs a source that is not the bottleneck. Frames are written straight to
the transport in bulk (server frames are unmasked text frames), so the feeder costs ~1 µs per frame.

    python -m bench.ws_feeder --port 0 --count 1000000 --rate 0      # prints "PORT <n>" then serves
"""
from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import time

from websockets.asyncio.server import serve

TEMPLATE = (b'{"stream":"%s@trade","data":{"e":"trade","E":%d,"s":"%s","t":%d,"p":"117850.01000000",'
            b'"q":"0.00085000","T":%d,"m":false,"M":true}}')


def ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return b"\x81" + bytes([n]) + payload
    if n < 65536:
        return b"\x81\x7e" + struct.pack("!H", n) + payload
    return b"\x81\x7f" + struct.pack("!Q", n) + payload


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--count", type=int, default=1_000_000, help="frames per connection")
    ap.add_argument("--rate", type=float, default=0, help="frames/s (0 = as fast as possible)")
    ap.add_argument("--start-delay", type=float, default=1.0)
    a = ap.parse_args()

    async def handler(ws):
        streams = ws.request.path.split("streams=", 1)[-1].split("/")
        sym = streams[0].split("@")[0].encode()
        up = sym.upper()
        await asyncio.sleep(a.start_delay)
        transport = ws.transport
        t0 = time.perf_counter()
        sent, tid = 0, 1
        batch = 1000 if a.rate == 0 else max(1, int(a.rate / 1000))  # 1 ms ticks when paced
        while sent < a.count:
            now = int(time.time() * 1000)
            n = min(batch, a.count - sent)
            buf = b"".join(ws_frame(TEMPLATE % (sym, now, up, tid + i, now)) for i in range(n))
            transport.write(buf)
            tid += n
            sent += n
            if a.rate:
                target = t0 + sent / a.rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif transport.get_write_buffer_size() > 8 * 1024 * 1024:
                while transport.get_write_buffer_size() > 1024 * 1024:
                    await asyncio.sleep(0.001)
            else:
                await asyncio.sleep(0)
        print(f"SENT {sent} in {time.perf_counter() - t0:.2f}s", flush=True)
        await asyncio.sleep(3600)

    async with serve(handler, "127.0.0.1", a.port, compression=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
