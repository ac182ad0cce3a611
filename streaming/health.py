"""Health means health: /healthz is 503 not only when the service loop is down but when the data is not
flowing correctly — DLQ rate, delivery failures, unfillable gaps or undelivered backlog above the thresholds of
``health:`` in config/streaming.yaml, over a sliding window. The same limits are the Prometheus alerting rules
(infra/prometheus/alerts.yml) for those who scrape /metrics."""
from __future__ import annotations

from collections import deque

from streaming.config import HealthSettings


class HealthWatch:
    def __init__(self, settings: HealthSettings) -> None:
        self.s = settings
        self.samples: deque[tuple[float, int, int, int]] = deque()  # (t, dlq, delivery failed, unfilled)

    def sample(self, now: float, dlq: int, failed: int, unfilled: int) -> None:
        self.samples.append((now, dlq, failed, unfilled))
        while len(self.samples) > 2 and self.samples[1][0] <= now - self.s.window_s:
            self.samples.popleft()

    def problems(self, undelivered_pending: int = 0) -> list[str]:
        """What is wrong now, one sentence each (empty = healthy)."""
        out = []
        if len(self.samples) >= 2:
            (t0, dlq0, f0, u0), (t1, dlq1, f1, u1) = self.samples[0], self.samples[-1]
            minutes = max(t1 - t0, 1.0) / 60
            rate = (dlq1 - dlq0) / minutes
            if rate > self.s.max_dlq_per_min:
                out.append(f"DLQ rate {rate:.1f}/min > health.max_dlq_per_min {self.s.max_dlq_per_min:g}")
            if f1 - f0 > self.s.max_delivery_failures:
                out.append(f"{f1 - f0} Kafka delivery failures in {t1 - t0:.0f} s > health.max_delivery_failures "
                           f"{self.s.max_delivery_failures}")
            if u1 - u0 > self.s.max_unfilled:
                out.append(f"{u1 - u0} ids/bars REST could not provide in {t1 - t0:.0f} s > health.max_unfilled "
                           f"{self.s.max_unfilled}")
        if undelivered_pending > self.s.max_undelivered_pending:
            out.append(f"{undelivered_pending} records await redelivery > health.max_undelivered_pending "
                       f"{self.s.max_undelivered_pending}")
        return out
