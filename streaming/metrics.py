"""Prometheus metrics and the health/status HTTP endpoint (aiohttp on the service's event loop).

Why a custom collector instead of labelled prometheus Counters on the hot path: ``Counter.labels().inc()``
costs a lock and a dict lookup per message. The pipeline keeps plain ints per stream; the collector
reads them at scrape time. Same for the latency histograms (:class:`FastHistogram`).

Endpoints: ``/metrics`` (Prometheus text), ``/healthz`` (200 while running and within the ``health:``
thresholds of config/streaming.yaml, else 503 with the problems named; streaming/health.py), ``/livez``
(200 while the service loop runs: what deploy and the process table check — a data problem must not make
deploy think the process failed to start),
``/status`` (JSON: source in use and why, connections, buffer, per-stream counters) for monitor.sh.
"""
from __future__ import annotations

import bisect
import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

if TYPE_CHECKING:
    from streaming.service import Service

log = logging.getLogger("streaming.metrics")

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04,
                   0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class FastHistogram:
    """Cumulative-at-scrape histogram: observe() is one bisect and one list increment."""

    __slots__ = ("bounds", "counts", "total", "n")

    def __init__(self, bounds: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.bounds = list(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, v: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, v)] += 1
        self.total += v
        self.n += 1

    def buckets(self) -> list[tuple[str, int]]:
        out, acc = [], 0
        for b, c in zip(self.bounds, self.counts):
            acc += c
            out.append((repr(b), acc))
        out.append(("+Inf", acc + self.counts[-1]))
        return out

    def quantile(self, q: float) -> float | None:
        """Upper bucket bound containing quantile q (coarse; the bench computes exact ones)."""
        if not self.n:
            return None
        target, acc = q * self.n, 0
        for b, c in zip(self.bounds, self.counts):
            acc += c
            if acc >= target:
                return b
        return float("inf")


class ServiceCollector:
    """Reads the service's counters at scrape time."""

    def __init__(self, service: "Service") -> None:
        self.s = service

    def collect(self) -> Iterable[Any]:
        s = self.s
        p = s.pipeline
        m_in = CounterMetricFamily("streaming_messages_in", "Frames received per stream", labels=["symbol", "stream"])
        m_out = CounterMetricFamily("streaming_messages_out", "Records handed to Kafka per stream and source",
                                    labels=["symbol", "stream", "source"])
        m_dup = CounterMetricFamily("streaming_duplicates_dropped", "Duplicates dropped", labels=["symbol", "stream"])
        m_gf = CounterMetricFamily("streaming_gaps_found", "Gaps detected", labels=["symbol", "stream"])
        m_gfl = CounterMetricFamily("streaming_gaps_filled", "Gaps closed by REST backfill", labels=["symbol", "stream"])
        m_miss = CounterMetricFamily("streaming_missing_unfilled", "Ids/bars REST could not provide",
                                     labels=["symbol", "stream"])
        for st in (p.streams.values() if p else ()):  # no pipeline until the source is chosen
            lab = [st.symbol, st.stream]
            m_in.add_metric(lab, st.n_in)
            m_out.add_metric(lab + [p.source.value], st.n_out_live)
            m_out.add_metric(lab + ["rest_backfill"], st.n_out_backfill)
            sq = st.seq
            m_dup.add_metric(lab, sq.duplicates)
            m_gf.add_metric(lab, sq.gaps_found)
            m_gfl.add_metric(lab, sq.gaps_filled)
            m_miss.add_metric(lab, sq.missing_unfilled)
        yield from (m_in, m_out, m_dup, m_gf, m_gfl, m_miss)
        dlq = CounterMetricFamily("streaming_dlq_messages", "Records sent to the DLQ", labels=["reason"])
        for reason, n in (p.dlq_counts.items() if p else ()):
            dlq.add_metric([reason], n)
        yield dlq
        rc = CounterMetricFamily("streaming_reconnects", "Websocket (re)connections after the first",
                                 labels=["shard", "reason"])
        for (shard, reason), n in s.reconnects.items():
            rc.add_metric([str(shard), reason], n)
        yield rc
        k = s.sink
        yield CounterMetricFamily("streaming_kafka_produced", "Records accepted by the producer", value=k.produced)
        yield CounterMetricFamily("streaming_kafka_delivered", "Delivery reports: success", value=k.delivered)
        fail = CounterMetricFamily("streaming_kafka_delivery_failed", "Delivery reports: error", labels=["error"])
        for name, n in k.failed_by_reason.items():
            fail.add_metric([name], n)
        yield fail
        yield GaugeMetricFamily("streaming_buffer_depth", "Records waiting for a broker ack (librdkafka + overflow)",
                                value=k.in_flight)
        yield GaugeMetricFamily("streaming_backpressure", "1 while ingest waits for the producer buffer",
                                value=1 if k.blocked else 0)
        for name, h, doc in (("streaming_produce_latency_seconds", k.ack_latency, "produce() to broker ack (sampled)"),
                             ("streaming_event_to_ack_seconds", k.event_latency, "exchange event time to ack (sampled)")):
            hm = HistogramMetricFamily(name, doc)
            hm.add_metric([], h.buckets(), h.total)
            yield hm
        src = GaugeMetricFamily("streaming_source_info", "Data source in use (1 = active)", labels=["source", "reason"])
        src.add_metric([s.choice.name, s.choice.reason], 1)
        yield src
        yield GaugeMetricFamily("streaming_simulated", "1 when the data is simulated (not live Binance)",
                                value=0 if s.choice.name == "binance" else 1)
        yield GaugeMetricFamily("streaming_connections_open", "Open websocket connections",
                                value=sum(c.open_legs for c in s.shards))
        yield CounterMetricFamily("streaming_archive_batches", "Raw archive batches written",
                                  value=s.archive.written if s.archive else 0)
        und = GaugeMetricFamily("streaming_undelivered_pending", "Ids whose Kafka delivery failed, awaiting "
                                "redelivery", labels=["symbol", "stream"])
        red = CounterMetricFamily("streaming_redelivered", "Undelivered records produced again (from REST)",
                                  labels=["symbol", "stream"])
        for st in (p.streams.values() if p else ()):
            if st.id_field is not None:
                und.add_metric([st.symbol, st.stream], len(st.ledger))
                red.add_metric([st.symbol, st.stream], st.redelivered)
        yield from (und, red)
        sym = GaugeMetricFamily("streaming_symbol_unavailable", "1 for a configured symbol the exchange does not "
                                "list as TRADING (skipped)", labels=["symbol", "reason"])
        for name, reason in s.symbols_unavailable.items():
            sym.add_metric([name, reason], 1)
        yield sym
        yield CounterMetricFamily("streaming_resume_from_file", "Streams resumed from the positions file (Kafka "
                                  "could not tell their position)", value=s.resumed["file"])
        yield GaugeMetricFamily("streaming_healthy", "1 when /healthz is 200 (state and health: thresholds)",
                                value=0 if s.health_problems() else 1)


async def start_http(service: "Service", host: str, port: int,
                     status: Callable[[], dict]) -> tuple[web.AppRunner, int]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(service))  # type: ignore[arg-type]

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        st = status()
        return web.Response(body=orjson.dumps({k: st[k] for k in ("state", "healthy", "health_problems", "source",
                                                                   "simulated", "connections_open", "buffer_depth",
                                                                   "kafka_ok", "symbols_unavailable")}),
                            status=200 if st["healthy"] else 503, content_type="application/json")

    async def livez(_: web.Request) -> web.Response:
        st = status()
        ok = st["state"] in ("running", "starting")
        return web.Response(body=orjson.dumps({"state": st["state"]}), status=200 if ok else 503,
                            content_type="application/json")

    async def status_h(_: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(status(), option=orjson.OPT_INDENT_2), content_type="application/json")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/status", status_h)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound
