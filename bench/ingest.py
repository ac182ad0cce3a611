"""Ingest benchmark: the streaming service (``python -m streaming``, production settings) against Kafka's own
ProducerPerformance on the same broker, side by side.

    .venv/bin/python -m bench.ingest                      # own throw-away Kafka (LocalStack), ~2-3 minutes
    .venv/bin/python -m bench.ingest --bootstrap 127.0.0.1:9092 --records 1000000 --profile

Phases:
1. ProducerPerformance: ``--record-size`` = the size of our trade envelope, acks=all, idempotent, lz4,
   linger 5 ms (the service's producer settings), ``--throughput -1``; then again paced at the latency
   rate (``--throughput <latency-rate>``): its send → ack latency is the floor that broker + client +
   this machine's scheduling put under our event → ack latency.
2. Service max throughput: bench/ws_feeder.py pushes N trade frames over one websocket as fast as it
   can; throughput = broker-acked records/s in the steady window (10 %..90 % of N); peak RSS (VmHWM).
3. Service latency at a fixed rate (default 10k msg/s): exchange event time ``E`` → broker ack, every
   record sampled (``kafka.latency_sample=1``), percentiles interpolated from the service's histogram.
Optionally ``--profile``: phase 2 again under cProfile, top functions printed.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SAMPLE_FRAME = (b'{"stream":"benchusdt@trade","data":{"e":"trade","E":1752572415240,"s":"BENCHUSDT","t":5071234567,'
                b'"p":"117850.01000000","q":"0.00085000","T":1752572415240,"m":false,"M":true}}')


def envelope_size() -> int:
    from shared.envelope import EnvelopePrefix, Source

    payload = SAMPLE_FRAME[len(b'{"stream":"benchusdt@trade","data":'):-1]
    return len(EnvelopePrefix("benchusdt@trade", "BENCHUSDT", "trade", Source.SIMULATOR).build(
        1752572415240, 1752572415243, payload))


def producer_performance(libs: Path, bootstrap: str, records: int, size: int, throughput: float = -1) -> dict:
    from shared.symbols import TopicDefaults
    from streaming.topics import ensure_topics

    ensure_topics(bootstrap, [], TopicDefaults())  # crypto_dlq; then the benchmark topic, same settings as ours
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    if "bench_producer_performance" not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic("bench_producer_performance", 3, 1,
                                      config={"compression.type": "lz4"})])["bench_producer_performance"].result()
    cmd = ["java", "-Xmx512m", "-cp", f"{libs}/*", "org.apache.kafka.tools.ProducerPerformance",
           "--topic", "bench_producer_performance", "--num-records", str(records), "--record-size", str(size),
           "--throughput", str(int(throughput)), "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
           "enable.idempotence=true", "compression.type=lz4", "linger.ms=5", "batch.size=1000000"]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    last = [ln for ln in out.stdout.splitlines() if "records sent" in ln]
    if not last:
        raise RuntimeError(f"ProducerPerformance failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    m = re.search(r"([\d.]+) records/sec .*?([\d.]+) ms avg latency.*?([\d.]+) ms 50th, ([\d.]+) ms 95th, "
                  r"([\d.]+) ms 99th", last[-1])
    assert m, last[-1]
    return {"cmd": " ".join(cmd), "rate": float(m.group(1)), "avg_ms": float(m.group(2)), "p50_ms": float(m.group(3)),
            "p95_ms": float(m.group(4)), "p99_ms": float(m.group(5)), "wall_s": time.time() - t0, "line": last[-1]}


def start_feeder(count: int, rate: float) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([PY, "-m", "bench.ws_feeder", "--count", str(count), "--rate", str(rate)], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("PORT"), line
    return p, int(line.split()[1])


def start_service(bootstrap: str, feeder_port: int, symbol: str, workdir: Path, sample: int,
                  profile: Path | None = None, extra_sets: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    sym = workdir / f"symbols-{symbol}.yaml"
    sym.write_text(f"version: 1\ndefault_tier: t\ntiers:\n  t: {{streams: [trade]}}\nsymbols:\n"
                   f"  - {{symbol: {symbol}, tier: t}}\n")
    log = workdir / f"service-{symbol}.log"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "STREAM_SOURCE": "simulator",
           "SIMULATOR_WS_URL": f"ws://127.0.0.1:{feeder_port}", "SIMULATOR_REST_URL": "http://127.0.0.1:9",
           "ACTIVE_SYMBOLS": "", "STREAMING_POSITIONS_FILE": str(workdir / f"positions-{symbol}.json")}
    prefix = [PY, "-m", "cProfile", "-o", str(profile), "-m", "streaming"] if profile else [PY, "-m", "streaming"]
    p = subprocess.Popen(prefix + ["--symbols", str(sym), "--metrics-port", "0", "--log-level", "WARNING",
                                   "--set", "backfill.enabled=false", "--set", "kafka.resume_scan=0",
                                   "--set", f"kafka.latency_sample={sample}",
                                   *[a for kv in extra_sets for a in ("--set", kv)]],
                         cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    # the metrics URL is logged at INFO, which we silenced: find the port from /proc
    deadline = time.time() + 60
    while time.time() < deadline:
        port = _listen_port(p.pid)
        if port:
            return p, f"http://127.0.0.1:{port}"
        time.sleep(0.2)
    raise RuntimeError("service did not open its metrics port:\n" + log.read_text()[-2000:])


def _listen_port(pid: int) -> int | None:
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")}
    except OSError:
        return None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A" and f[9] in inodes and f[1].startswith("0100007F"):
            return int(f[1].split(":")[1], 16)
    return None


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return orjson.loads(r.read())


def rss_kb(pid: int) -> tuple[int, int]:
    d = dict(ln.split(":", 1) for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in ln)
    return int(d["VmRSS"].split()[0]), int(d["VmHWM"].split()[0])


def cpu_s(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def histogram_quantiles(metrics_text: str, name: str, qs=(0.5, 0.95, 0.99, 0.999)) -> dict:
    buckets = []
    for ln in metrics_text.splitlines():
        if ln.startswith(name + "_bucket"):
            le = re.search(r'le="([^"]+)"', ln).group(1)  # type: ignore[union-attr]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(ln.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0
    out = {"count": int(total)}
    for q in qs:
        target, prev_b, prev_c = q * total, 0.0, 0.0
        for b, c in buckets:
            if c >= target:
                frac = 0 if c == prev_c or b == float("inf") else (target - prev_c) / (c - prev_c)
                out[f"p{q * 100:g}_ms"] = round(1000 * (prev_b + (b - prev_b) * frac if b != float("inf") else prev_b), 2)
                break
            prev_b, prev_c = b, c
    return out


def service_run(bootstrap: str, workdir: Path, symbol: str, count: int, rate: float, sample: int,
                profile: Path | None = None, extra_sets: tuple[str, ...] = ()) -> dict:
    feeder, port = start_feeder(count, rate)
    svc, base = start_service(bootstrap, port, symbol, workdir, sample, profile, extra_sets)
    series: list[tuple[float, int]] = []
    try:
        deadline = time.time() + max(120, count / max(rate, 1) * 2 if rate else 300)
        cpu0, t_cpu0 = cpu_s(svc.pid), time.time()
        while time.time() < deadline:
            st = get_json(base + "/status")
            series.append((time.time(), st["delivered"]))
            if st["delivered"] >= count:
                break
            time.sleep(0.25)
        cpu = (cpu_s(svc.pid) - cpu0) / (time.time() - t_cpu0)
        rss, hwm = rss_kb(svc.pid)
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            metrics = r.read().decode()
        st = get_json(base + "/status")
    finally:
        svc.send_signal(15)
        rc = svc.wait(120)
        feeder.terminate()
        feeder.wait(10)
    lo = next(((t, n) for t, n in series if n >= 0.1 * count), series[0])
    hi = next(((t, n) for t, n in series if n >= 0.9 * count), series[-1])
    rate_steady = (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else 0.0
    return {"delivered": st["delivered"], "frames": st["frames"], "dlq": st["dlq"], "rate": rate_steady,
            "rss_mb": rss / 1024, "peak_rss_mb": hwm / 1024, "cpu_cores": cpu, "exit_code": rc,
            "event_to_ack": histogram_quantiles(metrics, "streaming_event_to_ack_seconds"),
            "produce_to_ack": histogram_quantiles(metrics, "streaming_produce_latency_seconds")}


def print_profile(path: Path, n: int = 25) -> str:
    import io
    import pstats

    s = io.StringIO()
    pstats.Stats(str(path), stream=s).sort_stats("tottime").print_stats(n)
    return s.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", help="use this broker instead of a throw-away LocalStack Kafka")
    ap.add_argument("--records", type=int, default=1_000_000, help="records for the throughput phases")
    ap.add_argument("--latency-rate", type=float, default=10_000)
    ap.add_argument("--latency-seconds", type=float, default=20)
    ap.add_argument("--profile", action="store_true", help="also run phase 2 under cProfile and print the top")
    ap.add_argument("--service-set", action="append", default=[], metavar="DOTTED.KEY=VALUE",
                    help="extra --set for the service (what-if runs, e.g. kafka.linger_ms=2); default: production config")
    a = ap.parse_args()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally: never orphan the broker
    from infra.layout import Layout

    stack = None
    if a.bootstrap:
        boot = a.bootstrap
    else:
        from infra.local_stack import LocalStack

        stack = LocalStack.create()
        stack.start("kafka")
        boot = stack.settings.kafka_bootstrap
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        size = envelope_size()
        print(f"envelope size {size} B, broker {boot}, {os.cpu_count()} CPUs", flush=True)
        pp = producer_performance(Layout().kafka_libs, boot, a.records, size)
        print(f"[1] ProducerPerformance: {pp['rate']:,.0f} rec/s  avg {pp['avg_ms']} ms  p99 {pp['p99_ms']} ms",
              flush=True)
        n = int(a.latency_rate * a.latency_seconds)
        ppl = producer_performance(Layout().kafka_libs, boot, n, size, a.latency_rate)
        print(f"[1b] ProducerPerformance at {a.latency_rate:,.0f} rec/s: send->ack avg {ppl['avg_ms']} ms, "
              f"p50 {ppl['p50_ms']} ms, p95 {ppl['p95_ms']} ms, p99 {ppl['p99_ms']} ms", flush=True)
        sets = tuple(a.service_set)
        load0 = os.getloadavg()
        tp = service_run(boot, work, "BENCHAUSDT", a.records, 0, 16, extra_sets=sets)
        print(f"[2] service max: {tp['rate']:,.0f} rec/s ({tp['rate'] / pp['rate']:.0%} of ProducerPerformance), "
              f"peak RSS {tp['peak_rss_mb']:.0f} MB, cpu {tp['cpu_cores']:.2f} cores, delivered {tp['delivered']}, "
              f"event->ack {tp['event_to_ack']}", flush=True)
        lt = service_run(boot, work, "BENCHBUSDT", n, a.latency_rate, 1, extra_sets=sets)
        print(f"[3] service at {a.latency_rate:,.0f} msg/s: event->ack {lt['event_to_ack']}, "
              f"produce->ack {lt['produce_to_ack']}, peak RSS {lt['peak_rss_mb']:.0f} MB, "
              f"cpu {lt['cpu_cores']:.2f} cores", flush=True)
        load1 = os.getloadavg()
        print(f"load average (1/5/15 min) before the service phases {load0}, after {load1}", flush=True)
        result = {"envelope_bytes": size, "producer_performance": pp, "producer_performance_paced": ppl,
                  "service_max": tp, "service_latency": lt, "service_sets": list(sets),
                  "loadavg_before": load0, "loadavg_after": load1}
        if a.profile:
            prof = work / "service.prof"
            service_run(boot, work, "BENCHCUSDT", min(a.records, 300_000), 0, 16, profile=prof, extra_sets=sets)
            print(print_profile(prof))
        (ROOT / "var").mkdir(exist_ok=True)
        (ROOT / "var" / "bench-ingest.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        print("results: var/bench-ingest.json")
    finally:
        if stack is not None:
            stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
