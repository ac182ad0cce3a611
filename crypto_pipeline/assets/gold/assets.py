"""The gold assets: one multi-asset (one Spark session, one read of the silver tails) writing the five gold tables,
subsettable so each can be materialised alone, with its checks evaluated on the rows the run computed."""

from dagster import (AssetCheckKey, AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, AssetKey, AssetSpec,
                     AutomationCondition, Config, MaterializeResult, MetadataValue, multi_asset)
from dagster_pyspark import PySparkResource
from pydantic import Field

from crypto_pipeline.gold import checks
from crypto_pipeline.gold.job import GoldSettings, TableRun, update_gold
from crypto_pipeline.gold.phases import Phases
from crypto_pipeline.gold.tables import (ANOMALIES, ANOMALY_WINDOW, CORRELATION, DEFAULT_WINDOWS, PORTFOLIO, RISK,
                                         SIGNALS, gold_path)
from crypto_pipeline.resources.s3 import S3Resource
from crypto_pipeline.silver.tables import INDICATORS, OHLCV, silver_path
from shared.portfolios import load_portfolios

SILVER = [AssetKey("silver_ohlcv"), AssetKey("silver_indicators")]
# Gold waits for both silver assets (eager() holds while a dependency is in progress), so a gold run follows a
# silver run instead of starting beside it on a 2-core host; then it reads only the commits silver just made.
EAGER = AutomationCondition.eager()

DESCRIPTIONS = {
    RISK: "Per symbol, interval, window and bar: simple/log return, annualised volatility, historical VaR/CVaR "
          "95/99, max drawdown, Sharpe, Sortino (rf 0), beta vs BTCUSDT (spec §4.1-4.7).",
    CORRELATION: "Rolling correlation matrix of log returns per interval and window, complete case (§4.8).",
    PORTFOLIO: "config/portfolio.yaml valued per bar: value, flows, PnL (period, cumulative, realised and "
               "unrealised at average cost), drawdown, currency VaR/CVaR; positions in gold/portfolio_positions.",
    SIGNALS: "Golden/death cross, MACD cross, RSI 30/70 exits and zones, Bollinger breakouts and states (§4.10).",
    ANOMALIES: "Z-score flags of log returns (|z| >= 3) and volume (z >= 3) against the previous 60 bars (§4.11).",
}
CHECKS = {
    RISK: [("risk_within_bounds", "MDD in [-1, 0], volatility >= 0, CVaR >= VaR, VaR/CVaR <= 1, no infinity."),
           ("risk_complete", "No NULL volatility/VaR/CVaR/MDD once the window is full; one row per final silver "
                             "candle and window over the recomputed range."),
           ("risk_var_nonnegative", "VaR >= 0 (WARN: a window without a loss in its tail is possible).")],
    CORRELATION: [("correlation_valid", "|rho| <= 1, symmetric, diagonal 1.")],
    PORTFOLIO: [("portfolio_consistent", "value = cash + positions, weights + cash share = 1, drawdown in "
                                         "[-1, 0], CVaR >= VaR.")],
    SIGNALS: [("signals_valid", "known signals, direction +-1, kind matches, trigger values finite.")],
    ANOMALIES: [("anomalies_valid", "only flagged rows, std > 0, z = (value - mean)/std.")],
}
WARN_CHECKS = {"risk_var_nonnegative"}


class GoldConfig(Config):
    windows: dict[str, list[int]] = Field(default={k: list(v) for k, v in DEFAULT_WINDOWS.items()},
                                          description="rolling windows in bars per interval (risk, correlation; "
                                                      "the portfolio VaR uses the first)")
    anomaly_window: int = Field(ANOMALY_WINDOW, description="z-score window in bars")
    risk_free_annual: float = Field(0.0, description="annual risk-free rate for Sharpe/Sortino (spec §4.6)")


def _key(table: str) -> AssetKey:
    return AssetKey(f"gold_{table}")


@multi_asset(
    specs=[AssetSpec(_key(t), deps=SILVER, description=DESCRIPTIONS[t], skippable=True, automation_condition=EAGER,
                     metadata={"table": f"gold/{t}"} | ({"positions_table": "gold/portfolio_positions"}
                                                         if t == PORTFOLIO else {}), kinds={"spark", "hudi"})
           for t in DESCRIPTIONS],
    check_specs=[AssetCheckSpec(name, asset=_key(t), description=d) for t, cs in CHECKS.items() for name, d in cs],
    can_subset=True,
    pool="gold_writer",  # one gold run at a time: one writer per Hudi table
    name="gold",
)
def gold_assets(context: AssetExecutionContext, config: GoldConfig, spark: PySparkResource, s3: S3Resource):
    settings = GoldSettings(windows={k: tuple(v) for k, v in config.windows.items()},
                            anomaly_window=config.anomaly_window, risk_free_annual=config.risk_free_annual)
    selected = [t for t in DESCRIPTIONS if _key(t) in context.selected_asset_keys]
    portfolios = load_portfolios().portfolios if PORTFOLIO in selected else []
    phases = Phases(spark.spark_session)
    runs = update_gold(spark.spark_session, silver_path(s3.bucket, OHLCV), silver_path(s3.bucket, INDICATORS),
                       s3.bucket, settings, portfolios, tables=selected, phases=phases)
    context.log.info("gold seconds by phase: %s", phases.seconds)
    for t in selected:
        run = runs[t]
        context.log.info("gold_%s: %s", t, {k: v for k, v in vars(run).items() if k not in ("computed", "positions")})
        yield MaterializeResult(asset_key=_key(t), metadata=_metadata(t, run, settings, s3.bucket)
                               | {"seconds_by_phase": MetadataValue.json(phases.seconds)})
        for name, outcome in outcomes(t, run).items():
            if AssetCheckKey(_key(t), name) not in context.selected_asset_check_keys:
                continue
            yield AssetCheckResult(asset_key=_key(t), check_name=name, passed=outcome.passed,
                                   severity=AssetCheckSeverity.WARN if name in WARN_CHECKS else AssetCheckSeverity.ERROR,
                                   metadata={"rows_checked": outcome.checked, "failures": outcome.failures,
                                             "first_failures": MetadataValue.md(
                                                 "\n".join(f"- {s}" for s in outcome.sample) or "none")})


def outcomes(table: str, run: TableRun) -> dict[str, checks.Outcome]:
    """The checks of one table on the rows its run computed (a skipped run computed none: nothing to fail)."""
    if run.skipped:
        return {name: checks.Outcome(passed=True) for name, _ in CHECKS[table]}
    df = run.computed
    if table == RISK:
        return {"risk_within_bounds": checks.risk_bounds(df),
                "risk_complete": checks.risk_complete(df, run.origins, run.counts),
                "risk_var_nonnegative": checks.risk_var_nonnegative(df)}
    if table == CORRELATION:
        return {"correlation_valid": checks.correlation_valid(df)}
    if table == PORTFOLIO:
        return {"portfolio_consistent": checks.portfolio_consistent(df, run.positions)}
    if table == SIGNALS:
        return {"signals_valid": checks.signals_valid(df)}
    return {"anomalies_valid": checks.anomalies_valid(df)}


def _metadata(table: str, run: TableRun, settings: GoldSettings, bucket: str) -> dict:
    meta = {"path": gold_path(bucket, table), "skipped_no_new_silver_commits": run.skipped,
            "silver_commits": f"({run.begin}, {run.end}]", "full_rebuild": run.full,
            "series_recomputed": run.targets, "rows_computed": run.rows_computed, "rows_written": run.rows_written,
            "rows_deleted": run.rows_deleted, "latest_bar_ms": MetadataValue.json(run.latest_bar_ms),
            "seconds_to_commit": run.seconds, "inserted_without_lookup": run.inserted}
    if table in (RISK, CORRELATION, PORTFOLIO):
        meta["windows"] = MetadataValue.json({k: list(v) for k, v in settings.windows.items()})
    if table == ANOMALIES:
        meta["window_bars"] = settings.anomaly_window
    if table == PORTFOLIO and run.positions is not None:
        meta["position_rows_computed"] = len(run.positions)
    return meta
