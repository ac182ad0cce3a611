"""Optional raw archive: micro-batches of the received frames as JSONL.gz objects on S3/MinIO, in the
line format binance_sim's replay mode reads (binance_sim/replay.py)::

    {"recv_ts_ms": 1752572415240, "stream": "btcusdt@trade", "data": {...untouched payload...}}

Object names: ``<prefix>/date=YYYY-MM-DD/hour=HH/<first recv ms>-<seq>.jsonl.gz``.
Best effort by design: the archive must never slow or stop ingest, so uploads run in a worker thread
and, when S3 is down, at most ``max_pending_batches`` wait in memory (older ones are dropped, counted)."""
from __future__ import annotations

import asyncio
import gzip
import io
import logging
import time
from collections import deque
from urllib.parse import urlparse

log = logging.getLogger("streaming.archive")


class RawArchive:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, prefix: str,
                 batch_max_lines: int, batch_max_s: float, max_pending: int) -> None:
        from minio import Minio

        u = urlparse(endpoint)
        self.client = Minio(u.netloc, access_key=access_key, secret_key=secret_key, secure=u.scheme == "https")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.batch_max_lines, self.batch_max_s = batch_max_lines, batch_max_s
        self.lines: list[bytes] = []
        self.first_ms = 0
        self.pending: deque[tuple[str, bytes]] = deque()
        self.max_pending = max_pending
        self.seq = 0
        self.written = self.dropped = self.errors = 0
        self._wake = asyncio.Event()

    def add(self, recv_ms: int, stream: str, payload: bytes) -> None:
        if not self.lines:
            self.first_ms = recv_ms
        self.lines.append(b'{"recv_ts_ms":%d,"stream":"%s","data":%s}\n' % (recv_ms, stream.encode(), payload))
        if len(self.lines) >= self.batch_max_lines:
            self.cut()

    def cut(self) -> None:
        """Close the current batch (compress later, off the hot path)."""
        if not self.lines:
            return
        self.seq += 1
        t = time.gmtime(self.first_ms / 1000)
        name = (f"{self.prefix}/date={time.strftime('%Y-%m-%d', t)}/hour={time.strftime('%H', t)}/"
                f"{self.first_ms}-{self.seq:06d}.jsonl.gz")
        self.pending.append((name, b"".join(self.lines)))
        self.lines = []
        while len(self.pending) > self.max_pending:
            self.pending.popleft()
            self.dropped += 1
        self._wake.set()

    def _upload(self, name: str, data: bytes) -> None:
        body = gzip.compress(data, compresslevel=5)
        self.client.put_object(self.bucket, name, io.BytesIO(body), len(body),
                               content_type="application/gzip")  # a .gz file, not a transfer encoding

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if not await loop.run_in_executor(None, self.client.bucket_exists, self.bucket):
                await loop.run_in_executor(None, self.client.make_bucket, self.bucket)
        except Exception as e:  # noqa: BLE001
            log.error("archive bucket check failed (will retry on upload)", extra={"error": repr(e)[:300]})
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.batch_max_s)
            except asyncio.TimeoutError:
                self.cut()
            self._wake.clear()
            await self.upload_pending()

    async def upload_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            name, data = self.pending[0]
            try:
                await loop.run_in_executor(None, self._upload, name, data)
            except Exception as e:  # noqa: BLE001
                self.errors += 1
                log.error("archive upload failed", extra={"object": name, "error": repr(e)[:300]})
                await asyncio.sleep(2)
                return
            self.pending.popleft()
            self.written += 1

    async def close(self) -> None:
        self.cut()
        await self.upload_pending()
