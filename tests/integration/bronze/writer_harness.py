"""Driving the bronze-writer service in tests: a live feed of dense trade ids, what bronze holds, the writer's
health endpoint and the trades timeline on MinIO (shared by the service and the fault tests)."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Callable, TypeVar

from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.hudi import read_checkpoint, table_exists
from crypto_pipeline.lakehouse.tables import bronze_path
from crypto_pipeline.resources.kafka import KafkaResource
from tests.integration.bronze.helpers import Feed, trade

WRITER = "bronze-writer"
T = TypeVar("T")


class LiveFeed:
    """~100 trades/s of ``symbol`` with dense ids from ``first`` (and the other streams now and then) until
    stopped. The producer rides out a broker outage: records wait in its queue (up to 10 minutes) and its
    idempotence keeps a batch it re-sends after the broker's restart from being written twice; a record that
    still failed fails the test in :meth:`stop`, so a gap in bronze is never the feed's."""

    def __init__(self, bootstrap: str, symbol: str, first: int = 1) -> None:
        self.symbol, self.next_id, self.errors = symbol, first, []
        self.feed = Feed(bootstrap, {"message.timeout.ms": 600_000, "on_delivery": self._delivered})
        self.stop_ = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, err, _msg) -> None:
        if err is not None:
            self.errors.append(str(err))

    def _run(self) -> None:
        i = 0
        while not self.stop_.is_set():
            now = int(time.time() * 1000)   # recent trades: the freshness check judges them
            for tid in range(self.next_id, self.next_id + 20):
                self.feed.send(self.symbol, f"{self.symbol.lower()}@trade", trade(self.symbol, tid, t=now))
            self.next_id += 20
            if i % 10 == 0:
                self.feed.others(self.symbol, 1)
            i += 1
            self.stop_.wait(0.2)   # the feed's pace, not a synchronisation

    def start(self) -> "LiveFeed":
        self.thread.start()
        return self

    def stop(self, timeout: float = 180) -> int:
        """Stop producing, deliver everything queued; returns the last trade id produced."""
        self.stop_.set()
        self.thread.join(30)
        left = self.feed.p.flush(timeout)
        assert left == 0 and not self.errors, f"the feed did not deliver {left} records; errors: {self.errors[:5]}"
        return self.next_id - 1


def wait_for(what: str, probe: Callable[[], T], timeout: float, interval: float = 1.0) -> T:
    """``probe()``'s first truthy value, polled every ``interval`` until ``timeout``; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what} (last: {value!r})")
        time.sleep(interval)
        value = probe()
    return value


def trade_ids(spark, bucket: str, symbol: str) -> list[int]:
    """``symbol``'s trade ids in bronze (none before the table's first commit)."""
    if not table_exists(spark, bronze_path(bucket, "trades")):
        return []
    df = spark.read.format("hudi").load(bronze_path(bucket, "trades")).where(f"symbol = '{symbol}'")
    return [r.trade_id for r in df.select("trade_id").collect()]


def caught_up(spark, bucket: str, bootstrap: str, pattern: str, timeout: float = 240) -> None:
    """Wait until the trades checkpoint reaches the Kafka end offsets of ``pattern``'s topics as of now."""
    ends = KafkaResource(bootstrap_servers=bootstrap, topic_pattern=pattern).end_offsets()
    want = {t: {p: hi for p, (_lo, hi) in ps.items()} for t, ps in ends.items()}

    def reached() -> bool:
        got = off.decode(read_checkpoint(spark, bronze_path(bucket, "trades")))
        return all(got.get(t, {}).get(p, -1) >= hi for t, ps in want.items() for p, hi in ps.items())

    wait_for(f"the writer reaching the Kafka end offsets {want}", reached, timeout, interval=2)


def status(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
        return json.loads(r.read())


def healthz(port: int) -> tuple[int, str]:
    """The writer's ``/healthz`` as (HTTP status, body); (0, reason) when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 0, f"no answer: {e}"


def minio_client(env: dict[str, str]):
    from urllib.parse import urlparse

    from minio import Minio

    return Minio(urlparse(env["S3_ENDPOINT"]).netloc, access_key=env["MINIO_ROOT_USER"],
                 secret_key=env["MINIO_ROOT_PASSWORD"], secure=False)


def timeline(client, bucket: str, table: str = "trades") -> list[str]:
    """The file names on ``table``'s Hudi timeline (``<t>.commit.requested``, ``<t>.inflight``, ``<t>_<done>.commit``)."""
    return [o.object_name.rsplit("/", 1)[1]
            for o in client.list_objects(bucket, f"bronze/{table}/.hoodie/timeline/", recursive=False)]


def completed(names: list[str], instant: str) -> bool:
    return any(n.startswith(instant + "_") and n.endswith(".commit") for n in names)


def pending_commits(names: list[str]) -> set[str]:
    """The write instants not completed: ``<t>.inflight`` without ``<t>_<done>.commit`` (in flight, or left by
    a writer that died until Hudi rolls them back)."""
    flying = [n.split(".", 1)[0] for n in names if n.endswith(".inflight") and n.count(".") == 1]
    return {t for t in flying if not completed(names, t)}
