"""Wall-clock seconds per phase of a gold run (asset metadata, bench/gold.py): where an update spends its time.

Each phase is also the Spark job group of the jobs it starts, so a Spark event log (or the UI) attributes
every job to its phase. Thread-safe: the tables commit from several threads."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession


class Phases:
    def __init__(self, spark: SparkSession | None = None):
        self._sc = spark.sparkContext if spark is not None else None
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        prev = self._sc.getLocalProperty("spark.jobGroup.id") if self._sc else None
        if self._sc:
            self._sc.setLocalProperty("spark.jobGroup.id", f"gold: {name}")
        t = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - t, 3)
            if self._sc:
                self._sc.setLocalProperty("spark.jobGroup.id", prev)
