"""Dagster runs in flight when the stack stops: terminated through the webserver (the UI's own path) so
they end CANCELED instead of staying STARTED forever in PostgreSQL — a stale STARTED bronze run would
otherwise keep the bronze sensor waiting after the next deploy."""
from __future__ import annotations

import time

from infra.health import dagster_graphql

ACTIVE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
LIST = "{ runsOrError(filter: {statuses: [%s]}) { ... on Runs { results { runId status } } } }"
TERMINATE = 'mutation { terminateRun(runId: "%s", terminatePolicy: %s) { __typename } }'


def active_runs(base_url: str) -> list[str]:
    data = dagster_graphql(base_url, LIST % ", ".join(ACTIVE))
    return [r["runId"] for r in data["data"]["runsOrError"]["results"]]


def terminate_active_runs(base_url: str, grace: float = 60) -> int:
    """Ask every active run to stop (SAFE_TERMINATE), wait up to `grace` s, then mark the rest canceled."""
    runs = active_runs(base_url)
    for run_id in runs:
        dagster_graphql(base_url, TERMINATE % (run_id, "SAFE_TERMINATE"), timeout=30)
    deadline = time.monotonic() + grace
    left = runs
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = [r for r in active_runs(base_url) if r in runs]
    for run_id in left:
        dagster_graphql(base_url, TERMINATE % (run_id, "MARK_AS_CANCELED_IMMEDIATELY"), timeout=30)
    return len(runs)
