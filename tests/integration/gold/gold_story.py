"""Helpers for the gold integration tests: silver built from simulated bronze, gold tables read back, and a
from-scratch gold build to compare an incremental one with."""
from __future__ import annotations

from crypto_pipeline.gold.job import GoldSettings, update_gold
from crypto_pipeline.gold.tables import KEYS, VALUES, gold_path
from crypto_pipeline.silver import hudi
from crypto_pipeline.silver.indicators_job import update_indicators
from crypto_pipeline.silver.ohlcv_job import update_ohlcv
from shared.portfolios import Portfolio

#: small windows so that 40 simulated minutes fill them at 1m and 5m
SETTINGS = GoldSettings(windows={"1m": (10, 20), "5m": (3,), "15m": (2,), "1h": (2,), "4h": (2,), "1d": (2,)},
                        anomaly_window=5)


def portfolio(start: str) -> Portfolio:
    return Portfolio.model_validate({
        "name": "it", "start": start, "cash": 10_000, "intervals": ["1m", "5m"],
        "holdings": [{"symbol": "BTCUSDT", "quantity": 0.1, "avg_cost": 40_000},
                     {"symbol": "NEWUSDT", "quantity": 100, "avg_cost": 1.5}],  # no candles, ever
        "ledger": [{"time": "2024-01-02T00:05:30Z", "type": "deposit", "amount": 2_500},
                   {"time": "2024-01-02T00:07:00Z", "type": "buy", "symbol": "ETHUSDT", "quantity": 1, "price": 2_200}]})


def silver(spark, st) -> None:
    update_ohlcv(spark, st["bronze"], st["silver"])
    update_indicators(spark, st["silver"], st["ind"], st["state"])


def gold(spark, st, base: str | None = None, **kw):
    return update_gold(spark, st["silver"], st["ind"], base or st["lake"], SETTINGS, [portfolio(st["start"])], **kw)


def table(spark, base: str, name: str) -> dict:
    """key -> values of a gold table (NULL as None)."""
    rows = spark.read.format("hudi").load(gold_path(base, name)).collect()
    return {tuple(r[k] for k in KEYS[name]): tuple(r[v] for v in VALUES[name]) for r in rows}


def last_commit_keys(spark, base: str, name: str) -> set:
    """Keys of the rows the table's newest commit wrote (a Hudi incremental query over that commit only)."""
    path = gold_path(base, name)
    _, instants = hudi._completed_commits(spark, path)
    times = [i.getCompletionTime() for i in instants]
    prev = times[-2] if len(times) > 1 else None
    rows = hudi.read_incremental(spark, path, prev, times[-1]).collect()
    return {tuple(r[k] for k in KEYS[name]) for r in rows}
