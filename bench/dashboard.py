"""Dashboard benchmarks against the real service (its infra/services.py spec) and real PostgreSQL, on an
isolated throw-away stack seeded with one day of 1m candles (+ indicators) for 3 symbols:

1. candles endpoint, one day of 1m candles with indicators (1440 rows), 50 concurrent clients (wrk,
   Debian package; `./infra/bootstrap.sh --with-test-tools` installs it): cached + gzip (what browsers
   get), cached identity, and the reference in the same run: every request a cache miss (a distinct
   `to`), i.e. PostgreSQL query + serialisation each time. Goal p99 < 50 ms.
2. page first contentful paint and time to chart drawn (Debian chromium, Playwright performance API),
   fresh page each time. Goal FCP < 1.5 s.
3. live update latency: a latest_ticker row committed (+ NOTIFY, as the live consumer does) -> drawn in
   the browser (the frame after the chart update). Goal p95 < 500 ms.
Also the dashboard process's CPU and RSS during each load.

    /work/heavy .venv/bin/python bench/dashboard.py [--duration 20] [--connections 50] [--updates 100]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration" / "dashboard"))

from browser import chromium_path, launch  # noqa: E402
from seed import seed  # noqa: E402

from infra.local_stack import LocalStack  # noqa: E402
from serving.db import WRITER_ROLE, ServingDsn  # noqa: E402

MISS_LUA = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, wrk.path .. "&to=" .. (4102444800000 - counter))
end
"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


class ProcessMeter:
    """CPU (% of one core) and peak RSS of one process while a load runs."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.rss = 0
        self._stop = threading.Event()

    def __enter__(self) -> "ProcessMeter":
        self.t0, self.cpu0 = time.monotonic(), sum(self.proc.cpu_times()[:2])
        threading.Thread(target=self._sample, daemon=True).start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.rss = max(self.rss, self.proc.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.cpu = 100 * (sum(self.proc.cpu_times()[:2]) - self.cpu0) / (time.monotonic() - self.t0)
        self.rss = max(self.rss, self.proc.memory_info().rss)


def wrk(url: str, connections: int, duration: int, headers: dict[str, str], script: str | None = None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            cmd += ["-s", lua.name]
        out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout

    def ms(token: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s)", token)
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    lat = {p: ms(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1)) for p in ("50", "90", "99")}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {"p50": lat["50"], "p90": lat["90"], "p99": lat["99"],
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "non2xx": int(errors.group(1)) if errors else 0, "socket_errors": sock.group(1) if sock else "none",
            "transfer": re.search(r"Transfer/sec:\s+(\S+)", out).group(1)}


def bench_candles(base: str, pid: int, connections: int, duration: int) -> None:
    url = f"{base}/api/candles?symbol=BTCUSDT&interval=1m&limit=1440"
    runs = [("cached, gzip (browser)", {"Accept-Encoding": "gzip"}, None),
            ("cached, identity", {}, None),
            ("reference: uncached (PG + serialise)", {}, MISS_LUA),
            ("reference: 1.5 kB static file (machine + client floor)", {}, None)]
    print(f"\n## candles: 1440 x 1m with indicators, {connections} connections, {duration} s each")
    print("| run | p50 ms | p90 ms | p99 ms | req/s | non-2xx | transfer/s | service CPU % (1 core = 100) "
          "| service RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = {}
    for label, headers, script in runs:
        httpx.get(url, headers=headers, timeout=30)      # the page is built once before the clock starts
        with ProcessMeter(pid) as m:
            r = wrk(f"{base}/static/js/api.js" if "static" in label else url, connections, duration, headers, script)
        results[label] = r
        print(f"| {label} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} | "
              f"{r['non2xx']}, socket errors: {r['socket_errors']} | "
              f"{r['transfer']} | {m.cpu:.0f} | {m.rss / 2**20:.0f} |", flush=True)
    ref = results[runs[2][0]]
    for label, _, _ in runs[:2]:  # the same service, the same load: what the cache buys
        print(f"ratio p99 {label} / uncached: {results[label]['p99'] / ref['p99']:.2f}; "
              f"throughput x{results[label]['rps'] / ref['rps']:.1f}")


def bench_page(playwright, base: str, loads: int) -> None:
    fcp, ready = [], []
    with launch(playwright) as ctx:
        for _ in range(loads):
            page = ctx.new_page()
            page.goto(f"{base}/?symbol=BTCUSDT&interval=1m")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            fcp.append(page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime"))
            ready.append(page.evaluate("performance.now()"))
            page.close()
    print(f"\n## page ({loads} fresh loads, 1440 1m candles)\n"
          f"first contentful paint ms: median {statistics.median(fcp):.0f}, max {max(fcp):.0f}; "
          f"all panels loaded and chart drawn ms: median {statistics.median(ready):.0f}, max {max(ready):.0f}")


def bench_live(playwright, base: str, writer, updates: int, pid: int) -> None:
    with launch(playwright) as ctx:
        page = ctx.new_page()
        page.goto(f"{base}/?symbol=BTCUSDT&interval=1m")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("#live.on")
        lat, m = _live_updates(page, writer, updates, pid)
    print(f"\n## live update: row committed -> drawn ({updates} updates)\n"
          f"p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, max {max(lat):.0f} ms "
          f"(service CPU {m.cpu:.1f} %, RSS {m.rss / 2**20:.0f} MiB)")


def _live_updates(page, writer, updates: int, pid: int) -> tuple[list[float], ProcessMeter]:
    base_price = page.evaluate("dash.lastBar.close")
    lat = []
    with ProcessMeter(pid) as m:
        for i in range(updates):
            price = round(base_price + 0.01 * (i + 1), 2)
            with writer.transaction():
                writer.execute("update latest_ticker set last_price = %s, event_time_ms = %s where symbol = 'BTCUSDT'",
                               (price, int(time.time() * 1000)))
                writer.execute("select pg_notify('serving_ticker', row_to_json(t)::text) from latest_ticker t "
                               "where symbol = 'BTCUSDT'")
            committed = time.time() * 1000
            page.wait_for_function(f"dash.drawn.some(d => d.price === {price})", timeout=10_000, polling=5)
            drawn = page.evaluate(f"dash.drawn.find(d => d.price === {price}).wall")
            lat.append(drawn - committed)
            time.sleep(0.1)
    return lat, m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--page-loads", type=int, default=10)
    ap.add_argument("--updates", type=int, default=100)
    args = ap.parse_args()
    if chromium_path() is None or subprocess.run(["which", "wrk"], capture_output=True).returncode:
        sys.exit("needs Debian chromium and wrk: ./infra/bootstrap.sh --with-test-tools")
    stack = LocalStack.create()
    try:
        stack.start("postgres")
        s, c = stack.settings, stack.creds
        writer = ServingDsn(s.bind_host, s.postgres.port, s.postgres.serving_db, WRITER_ROLE,
                            c.serving_writer_password).connect(autocommit=True)
        seed(writer)
        stack.start("dashboard")
        base, pid = f"http://{s.bind_host}:{s.dashboard.port}", stack.procs["dashboard"].pid
        print(f"machine: {psutil.cpu_count()} cores, load average {json.dumps(psutil.getloadavg())} at start "
              "(shared with other jobs)")
        idle = psutil.Process(pid).memory_info().rss
        print(f"dashboard idle RSS {idle / 2**20:.0f} MiB")
        bench_candles(base, pid, args.connections, args.duration)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            bench_page(p, base, args.page_loads)
            bench_live(p, base, writer, args.updates, pid)
        print(f"load average at end {json.dumps(psutil.getloadavg())}")
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
