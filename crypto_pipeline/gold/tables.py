"""Gold table contract (docs/contracts-gold-serving.md): names, record keys, columns, default windows."""
from __future__ import annotations

from crypto_pipeline.silver.intervals import INTERVAL_MS

GOLD_PREFIX = "gold"
RISK, CORRELATION, PORTFOLIO, POSITIONS, SIGNALS, ANOMALIES = (
    "risk", "correlation", "portfolio", "portfolio_positions", "signals", "anomalies")
PRECOMBINE = "updated_at_ms"
#: upserted rows carry False; a restatement that un-flags a signal/anomaly writes its key with True (Hudi
#: deletes it in the same commit as the checkpoint)
DELETED = "_hoodie_is_deleted"

#: record key, partition fields and value columns of every gold table (partition column ``period``: UTC day
#: for 1m/5m/15m, month for 1h/4h/1d, as in silver)
KEYS: dict[str, tuple[str, ...]] = {
    RISK: ("symbol", "interval", "window_bars", "open_time_ms"),
    CORRELATION: ("interval", "window_bars", "open_time_ms", "symbol_a", "symbol_b"),
    PORTFOLIO: ("portfolio", "interval", "open_time_ms"),
    POSITIONS: ("portfolio", "interval", "open_time_ms", "symbol"),
    SIGNALS: ("symbol", "interval", "open_time_ms", "signal"),
    ANOMALIES: ("symbol", "interval", "open_time_ms", "metric"),
}
PARTITIONS: dict[str, tuple[str, ...]] = {
    RISK: ("symbol", "interval", "period"),
    CORRELATION: ("interval", "period"),
    PORTFOLIO: ("portfolio", "interval", "period"),
    POSITIONS: ("portfolio", "interval", "period"),
    SIGNALS: ("symbol", "interval", "period"),
    ANOMALIES: ("symbol", "interval", "period"),
}
VALUES: dict[str, tuple[str, ...]] = {
    RISK: ("close", "simple_return", "log_return", "volatility_ann", "var_95", "cvar_95", "var_99", "cvar_99",
           "max_drawdown", "sharpe", "sortino", "beta_btc"),
    CORRELATION: ("correlation",),
    PORTFOLIO: ("value", "cash", "net_flow", "period_pnl", "period_return", "cumulative_pnl", "realised_pnl",
                "unrealised_pnl", "drawdown", "var_95", "cvar_95", "var_99", "cvar_99"),
    POSITIONS: ("quantity", "price", "value", "weight", "avg_cost", "unrealised_pnl", "realised_pnl"),
    SIGNALS: ("direction", "kind", "values_json", "close"),
    ANOMALIES: ("value", "mean", "std", "zscore", "window_bars"),
}
#: Spark types of the non-double columns (every other value column is double)
TYPES: dict[str, str] = {"symbol": "string", "interval": "string", "portfolio": "string", "symbol_a": "string",
                         "symbol_b": "string", "signal": "string", "metric": "string", "kind": "string",
                         "values_json": "string", "window_bars": "int", "open_time_ms": "bigint", "direction": "int"}
#: tables whose rows exist only where something fired: a restatement may delete rows
SPARSE = (SIGNALS, ANOMALIES)

#: rolling windows in bars per interval (contract defaults); the portfolio VaR uses the first one
DEFAULT_WINDOWS: dict[str, tuple[int, ...]] = {"1m": (1440,), "5m": (288,), "15m": (96,), "1h": (720,),
                                               "4h": (180,), "1d": (30, 90, 365)}
ANOMALY_WINDOW = 60
ZSCORE_THRESHOLD = 3.0
BENCHMARK = "BTCUSDT"
#: periods per year (spec §4.2: 24/7, 365-day year)
PERIODS_PER_YEAR: dict[str, int] = {iv: 365 * 86_400_000 // ms for iv, ms in INTERVAL_MS.items()}


def gold_path(bucket_or_base: str, table: str) -> str:
    """``s3a://<bucket>/gold/<table>``; a base that already is a URI (tests) gets ``/gold/<table>``."""
    base = bucket_or_base if "://" in bucket_or_base else f"s3a://{bucket_or_base}"
    return f"{base.rstrip('/')}/{GOLD_PREFIX}/{table}"


def columns(table: str) -> tuple[str, ...]:
    return (*KEYS[table], *VALUES[table])


def spark_schema(table: str) -> str:
    """DDL of a table's rows as the job builds them (before period/updated_at/_hoodie_is_deleted)."""
    return ", ".join(f"{c} {TYPES.get(c, 'double')}" for c in columns(table))
