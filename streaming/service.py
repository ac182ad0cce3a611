"""Wiring: source → topics → resume → connections → pipeline → producer; metrics; graceful stop.

Stop (SIGTERM/SIGINT): close the websockets (no new input), publish frames held for backfills, flush
the producer (``flush_timeout_s``), upload the last archive batch, exit 0 — or 1 when records could not
be delivered in time (they are counted in the log)."""
from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import Any

from shared.envelope import topic_for
from shared.settings import ROOT
from shared.symbols import SymbolConfig
from streaming.archive import RawArchive
from streaming.backfill import Backfiller
from streaming.backoff import AttemptWindow, Backoff
from streaming.config import StreamingSettings
from streaming.connection import ShardConnection, shard_streams
from streaming.health import HealthWatch
from streaming.metrics import start_http
from streaming.pipeline import Pipeline
from streaming.positions import load_positions, save_positions
from streaming.producer import KafkaSink
from streaming.redelivery import Redeliverer
from streaming.resume import read_positions
from streaming.source import SourceChoice, choose_source
from streaming.symbol_check import check_symbols
from streaming.topics import ensure_topics

log = logging.getLogger("streaming.service")


class Service:
    def __init__(self, settings: StreamingSettings, symbols: SymbolConfig, latency_sample: int | None = None) -> None:
        self.settings, self.symbols = settings, symbols
        self.state = "starting"
        self.choice = SourceChoice("unknown", "", "", None, "not chosen yet")  # type: ignore[arg-type]
        self.sink = KafkaSink(settings.kafka, latency_sample=latency_sample or settings.kafka.latency_sample)
        self.pipeline: Pipeline | None = None  # built once the source is chosen; /status and metrics allow None
        self.backfiller: Backfiller | None = None
        self.archive: RawArchive | None = None
        self.shards: list[ShardConnection] = []
        self.reconnects: dict[tuple[int, str], int] = {}
        self.kafka_ok = False
        self.metrics_port = 0
        self.undelivered = 0
        self.redeliverer: Redeliverer | None = None
        self.resumed = {"kafka": 0, "file": 0, "fresh": 0}
        self.symbols_checked = False
        self.health = HealthWatch(settings.health)
        self.symbols_unavailable: dict[str, str] = {}  # symbol -> why it is not ingested (exchangeInfo)
        self.running_symbols: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._http = None
        self.started_at = time.time()

    # ------------------------------------------------------------------------------------ status
    def on_reconnect(self, shard: int, reason: str) -> None:
        self.reconnects[(shard, reason)] = self.reconnects.get((shard, reason), 0) + 1

    def health_problems(self) -> list[str]:
        p = self.pipeline
        problems = self.health.problems(sum(len(st.ledger) for st in p.streams.values()) if p else 0)
        if self.state not in ("running", "starting"):
            problems.insert(0, f"service state {self.state}")
        return problems

    def status(self) -> dict[str, Any]:
        p = self.pipeline
        problems = self.health_problems()
        return {
            "healthy": not problems, "health_problems": problems,
            "state": self.state, "source": self.choice.name, "source_reason": self.choice.reason,
            "simulated": self.choice.name != "binance", "ws_url": self.choice.ws_url,
            "symbols": self.running_symbols, "active_symbols_override": self.symbols.override,
            "symbols_checked": self.symbols_checked, "symbols_unavailable": dict(self.symbols_unavailable),
            "connections_open": sum(s.open_legs for s in self.shards), "shards": len(self.shards),
            "reconnects": sum(self.reconnects.values()), "kafka_ok": self.kafka_ok,
            "buffer_depth": self.sink.in_flight, "backpressure": self.sink.blocked,
            "produced": self.sink.produced, "delivered": self.sink.delivered, "delivery_failed": self.sink.failed,
            "dlq": dict(p.dlq_counts) if p else {}, "frames": p.frames if p else 0,
            "backfill_requests": self.backfiller.requests if self.backfiller else 0,
            "undelivered_pending": sum(len(st.ledger) for st in p.streams.values()) if p else 0,
            "redelivered": sum(st.redelivered for st in p.streams.values()) if p else 0,
            "resumed": dict(self.resumed),
            "uptime_s": round(time.time() - self.started_at, 1),
            "streams": p.stats() if p else {},
        }

    # ------------------------------------------------------------------------------------ lifecycle
    def request_stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        s = self.settings
        self._http, self.metrics_port = await start_http(self, s.metrics.host, s.metrics.port, self.status)
        log.info("metrics endpoint up", extra={"url": f"http://{s.metrics.host}:{self.metrics_port}/metrics"})
        self.choice = await choose_source(s)
        symbols = list(self.symbols.active)
        bad = None if self.choice.name == "replay" else \
            await check_symbols(self.choice.rest_url, [a.symbol for a in symbols], ssl_ctx=self.choice.ssl)
        self.symbols_checked = bad is not None
        self.symbols_unavailable = bad or {}
        symbols = [a for a in symbols if a.symbol not in self.symbols_unavailable]
        self.running_symbols = [a.symbol for a in symbols]
        await self._ensure_topics([a.symbol for a in symbols])
        if s.backfill.enabled and self.choice.name != "replay":
            self.backfiller = Backfiller(self.choice.rest_url, s.backfill, ssl=self.choice.ssl)
            await self.backfiller.start()
        if s.archive.enabled:
            a = s.archive
            if not (a.s3_endpoint and a.access_key and a.secret_key and a.bucket):
                log.error("archive enabled but S3_ENDPOINT/MINIO_ROOT_USER/MINIO_ROOT_PASSWORD/MINIO_BUCKET missing; "
                          "archive off")
            else:
                self.archive = RawArchive(a.s3_endpoint, a.access_key, a.secret_key, a.bucket, a.prefix,
                                          a.batch_max_lines, a.batch_max_s, a.max_pending_batches)
        self.pipeline = Pipeline(symbols, self.choice.record_source, self.sink, s.validation.max_future_ms,
                                 self.backfiller, self.archive, s.connection.max_frame_bytes,
                                 s.backfill.max_pending_per_stream)
        self.sink.on_undelivered = self.pipeline.on_undelivered
        await self._resume()
        self.redeliverer = Redeliverer(self.pipeline, self.backfiller, s.kafka.connection(),
                                       s.kafka.redeliver_interval_s, s.kafka.redeliver_max_attempts)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.sink.poll_loop()))
        self._tasks.append(loop.create_task(self._housekeeping()))
        self._tasks.append(loop.create_task(self.redeliverer.run()))
        if self.archive:
            self._tasks.append(loop.create_task(self.archive.run()))
        streams = [n for a in symbols for n in a.stream_names]
        attempts = AttemptWindow()
        for i, chunk in enumerate(shard_streams(streams, s.connection.max_streams_per_connection)):
            sc = ShardConnection(i, chunk, self.choice.ws_url, s.connection, self.pipeline, self.sink, attempts,
                                 self.on_reconnect, ssl=self.choice.ssl)
            self.shards.append(sc)
            self._tasks.append(loop.create_task(sc.run(), name=f"shard-{i}"))
        self.state = "running"
        log.info("streaming started", extra={"source": self.choice.name, "symbols": [a.symbol for a in symbols],
                                             "streams": len(streams), "shards": len(self.shards)})

    async def _ensure_topics(self, syms: list[str]) -> None:
        backoff = Backoff(1, 30)
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(ensure_topics, self.settings.kafka.connection(), syms, self.symbols.topics)
                self.kafka_ok = True
                return
            except Exception as e:  # noqa: BLE001 - broker not up yet: keep trying, say so
                delay = backoff.next()
                log.error("kafka not reachable for topic admin; retrying",
                          extra={"bootstrap": self.settings.kafka.bootstrap_servers, "error": repr(e)[:300],
                                 "retry_in_s": round(delay, 1)})
                await asyncio.sleep(delay)

    async def _resume(self) -> None:
        """Positions from the Kafka tail; where it cannot tell, from the positions file (the downtime then
        becomes a gap that is backfilled); ids a previous run failed to deliver go back to the ledgers."""
        p = self.pipeline
        assert p is not None
        want = {n for n, st in p.streams.items() if st.seq.backfillable}
        saved = load_positions(self.positions_path)
        try:
            pos = await asyncio.to_thread(read_positions, self.settings.kafka.connection(),
                                          sorted({topic_for(st.symbol) for st in p.streams.values()}), want,
                                          self.settings.kafka.resume_scan)
        except Exception as e:  # noqa: BLE001 - fall back to the positions file below
            log.error("could not read positions from Kafka; resuming from the positions file",
                      extra={"error": repr(e)[:300], "file": str(self.positions_path)})
            pos = {}
        for name in sorted(want):
            st = p.streams[name]
            entry = saved.get(name) or {}
            for lo, hi in entry.get("undelivered") or ():
                st.ledger.add_range(int(lo), int(hi))
            if st.ledger:
                st.ledger_since_ms = entry.get("since_ms") or 0
            if name in pos:
                st.seq.resume(pos[name])
                self.resumed["kafka"] += 1
            elif entry.get("delivered") is not None:
                mark = entry["delivered"]
                st.seq.resume(tuple(mark) if isinstance(mark, list) else mark)
                self.resumed["file"] += 1
                log.warning("position not found in Kafka; resuming from the positions file (the downtime is "
                            "backfilled)", extra={"stream": name, "last_confirmed": mark})
            else:
                self.resumed["fresh"] += 1
                log.info("no position known; starting at the live edge", extra={"stream": name})

    @property
    def positions_path(self) -> Path:
        f = Path(self.settings.kafka.positions_file)
        return f if f.is_absolute() else ROOT / f

    def save_positions(self, final: bool = False) -> None:
        if self.pipeline is None:
            return
        try:
            save_positions(self.positions_path, self.pipeline.positions(final))
        except OSError as e:
            log.error("could not write the positions file", extra={"file": str(self.positions_path),
                                                                    "error": repr(e)})

    async def _housekeeping(self) -> None:
        k = self.settings.kafka
        tick = min(1.0, k.mark_interval_s)
        last_mark = last_save = 0.0
        while True:
            await asyncio.sleep(tick)
            assert self.pipeline is not None
            self.pipeline.check_pending_limits()
            self.kafka_ok = self.sink.in_flight < k.buffer_max_messages // 2
            now = time.monotonic()
            p = self.pipeline
            self.health.sample(now, sum(p.dlq_counts.values()), self.sink.failed,
                               sum(st.seq.missing_unfilled for st in p.streams.values()))
            if now - last_mark >= k.mark_interval_s:
                last_mark = now
                self.pipeline.request_marks()
            if now - last_save >= 5:
                last_save = now
                self.save_positions()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
                pass
        starter = loop.create_task(self.start())
        stopper = loop.create_task(self._stop.wait())
        await asyncio.wait({starter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if starter.done() and starter.exception() is not None:
            stopper.cancel()
            await self.shutdown()
            raise starter.exception()  # type: ignore[misc]
        await stopper
        if not starter.done():
            starter.cancel()
        return await self.shutdown()

    async def shutdown(self) -> int:
        self.state = "stopping"
        log.info("stopping: closing connections, flushing Kafka")
        for t in self._tasks:
            if t.get_name().startswith("shard-"):
                t.cancel()
        await asyncio.gather(*[t for t in self._tasks if t.get_name().startswith("shard-")], return_exceptions=True)
        if self.pipeline is not None:
            await self.pipeline.drain()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.undelivered = await asyncio.to_thread(self.sink.flush, self.settings.kafka.flush_timeout_s)
        self.sink.p.poll(0)  # serve the last delivery reports (failures go to the ledgers)
        self.save_positions(final=self.undelivered == 0)
        if self.archive is not None:
            await self.archive.close()
        if self.backfiller is not None:
            await self.backfiller.close()
        if self._http is not None:
            await self._http.cleanup()
        self.state = "stopped"
        if self.undelivered:
            log.error("stopped with undelivered records", extra={"undelivered": self.undelivered})
            return 1
        log.info("stopped cleanly", extra={"produced": self.sink.produced, "delivered": self.sink.delivered})
        return 0
