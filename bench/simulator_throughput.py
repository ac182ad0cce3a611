"""Throughput/latency benchmark of binance_sim (loopback only, bounded time).

Starts ``--sim-procs`` simulator processes (``python -m binance_sim --port 0``),
then ``--client-procs`` client processes holding ``--connections`` websocket
connections in total, each subscribed (combined URL) to the ``@trade`` stream
of every symbol of its simulator.  Clients use a minimal raw WebSocket reader
(asyncio.Protocol + frame-header parsing) so the client side is not the
bottleneck; every frame is counted, and one frame in ``--sample`` is JSON-parsed
to measure latency = client receive time - event time ``E``.

    .venv/bin/python bench/simulator_throughput.py --duration 20
    .venv/bin/python bench/simulator_throughput.py --duration 20 --tls   # wss:// (deploy's setting)

Prints delivered messages/s (sustained, after warm-up), latency percentiles,
the simulators' CPU use in the window and RSS.  Never talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "ETHBTC"]


class RawWs(asyncio.Protocol):
    """Just enough of RFC 6455 for a receive-only client."""

    def __init__(self, path: str, host: str, stats: dict, sample: int) -> None:
        self.path, self.host, self.stats, self.sample = path, host, stats, sample
        self.buf = bytearray()
        self.upgraded = False
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buf[:end]:
                raise RuntimeError(bytes(buf[:end]).decode())
            self.upgraded = True
            pos = end + 4
        n = len(buf)
        st = self.stats
        frames = 0
        sample = self.sample
        while n - pos >= 2:
            op = buf[pos] & 0x0F
            ln = buf[pos + 1] & 0x7F
            hl = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = int.from_bytes(buf[pos + 2:pos + 4], "big")
                hl = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hl = 10
            if n - pos < hl + ln:
                break
            if op == 1:
                frames += 1
                if (st["frames"] + frames) % sample == 0:
                    now = time.time() * 1000
                    d = orjson.loads(bytes(buf[pos + hl:pos + hl + ln]))
                    ev = d.get("data", d)
                    st["lat"].append(now - ev["E"])
            elif op == 9:  # ping -> masked pong
                payload = bytes(buf[pos + hl:pos + hl + ln])
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
            pos += hl + ln
        st["frames"] += frames
        del buf[:pos]


def client_proc(urls: list[str], duration: float, warmup: float, sample: int, q, ca: str | None = None) -> None:
    async def main():
        stats = [{"frames": 0, "lat": []} for _ in urls]
        loop = asyncio.get_running_loop()
        ctx = ssl.create_default_context(cafile=ca) if ca else None
        for url, st in zip(urls, stats):
            m = re.match(r"wss?://([^:/]+):(\d+)(/.*)", url)
            host, port, path = m.group(1), int(m.group(2)), m.group(3)
            await loop.create_connection(lambda: RawWs(path, f"{host}:{port}", st, sample), host, port, ssl=ctx)
        await asyncio.sleep(warmup)
        f0 = sum(s["frames"] for s in stats)
        for s in stats:
            s["lat"].clear()
        t0 = time.monotonic()
        await asyncio.sleep(duration)
        t1 = time.monotonic()
        f1 = sum(s["frames"] for s in stats)
        q.put({"frames": f1 - f0, "secs": t1 - t0, "lat": [x for s in stats for x in s["lat"]]})
    asyncio.run(main())


def start_sim(args, idx: int) -> tuple[subprocess.Popen, str]:
    syms = ",".join(SYMBOLS[: args.symbols])
    cmd = [sys.executable, "-m", "binance_sim", "--host", "127.0.0.1", "--port", "0", "--symbols", syms,
           "--rate", str(args.rate), "--seed", str(idx + 1), "--history-s", "60", "--log-level", "WARNING"]
    if args.tls_dir:
        cmd += ["--tls-dir", args.tls_dir]
    env = dict(os.environ, PYTHONPATH=ROOT)
    # log level WARNING hides the startup line, so find the port via a one-shot INFO run of the logger
    cmd[cmd.index("--log-level") + 1] = "INFO"
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stdout.readline().decode()
        m = re.search(r"ws=(wss?://[^ ]+)/ws", line)
        if m:
            # drain further output in the background so the pipe never blocks
            subprocess.Popen(["cat"], stdin=p.stdout, stdout=subprocess.DEVNULL)
            return p, m.group(1)
    p.kill()
    raise RuntimeError("simulator did not start")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sim-procs", type=int, default=1)
    ap.add_argument("--client-procs", type=int, default=1)
    ap.add_argument("--connections", type=int, default=16, help="total client connections")
    ap.add_argument("--symbols", type=int, default=4, help="symbols per simulator (max 8)")
    ap.add_argument("--rate", type=float, default=2500.0, help="trades/s per symbol")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--sample", type=int, default=50, help="parse 1 frame in N for latency")
    ap.add_argument("--tls", action="store_true", help="serve and read wss:// (certificate in a temp dir)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="sim-bench-tls-") if args.tls else None
    args.tls_dir = tmp.name if tmp else None
    ca = str(Path(tmp.name) / "ca.pem") if tmp else None
    sims = [start_sim(args, i) for i in range(args.sim_procs)]
    try:
        syms = SYMBOLS[: args.symbols]
        path = "/stream?streams=" + "/".join(f"{s.lower()}@trade" for s in syms)
        urls = [sims[i % len(sims)][1] + path for i in range(args.connections)]
        q = mp.Queue()
        per = [urls[i::args.client_procs] for i in range(args.client_procs)]
        procs = [mp.Process(target=client_proc, args=(u, args.duration, args.warmup, args.sample, q, ca))
                 for u in per]
        for p in procs:
            p.start()
        time.sleep(args.warmup)
        cpu0 = [cpu_s(p.pid) for p, _ in sims]
        results = [q.get(timeout=args.duration + args.warmup + 60) for _ in procs]
        cpu = [(cpu_s(p.pid) - c0) / args.duration for (p, _), c0 in zip(sims, cpu0)]
        for p in procs:
            p.join(10)
        rss = [rss_mb(p.pid) for p, _ in sims]
    finally:
        for p, _ in sims:
            p.terminate()
        for p, _ in sims:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    frames = sum(r["frames"] for r in results)
    secs = max(r["secs"] for r in results)
    lat = [x for r in results for x in r["lat"]]
    offered = args.sim_procs * args.symbols * args.rate * (args.connections / args.sim_procs)
    print(f"| setting | value |\n|---|---|")
    print(f"| simulator processes | {args.sim_procs}{' (TLS: wss://)' if args.tls else ''} |")
    print(f"| client processes / connections | {args.client_procs} / {args.connections} |")
    print(f"| symbols x trades/s per simulator | {args.symbols} x {args.rate:g} |")
    print(f"| offered deliveries/s (nominal) | {offered:,.0f} |")
    print(f"| measured window | {secs:.1f} s after {args.warmup:g} s warm-up |")
    print(f"| **delivered messages/s** | **{frames / secs:,.0f}** |")
    print(f"| latency E->recv p50 / p90 / p99 / max (ms) | {pct(lat, 50):.1f} / {pct(lat, 90):.1f} / "
          f"{pct(lat, 99):.1f} / {max(lat) if lat else float('nan'):.1f} |")
    print(f"| latency samples | {len(lat)} |")
    print(f"| simulator CPU in the window (cores) | {', '.join(f'{c:.2f}' for c in cpu)} |")
    print(f"| simulator RSS (MB) | {', '.join(f'{r:.0f}' for r in rss)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
