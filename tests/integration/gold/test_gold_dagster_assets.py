"""The gold assets materialise through Dagster (PostgreSQL-backed instance) after silver, on MinIO: metadata
(rows, windows, latest bar), every declared check evaluated and passing; a rerun is a no-op; a portfolio
ledger that sells more than it holds fails the run with the file, portfolio and event named."""
import uuid

import pytest
from dagster import AssetKey, RunConfig, materialize

from silver_bronze_data import simulate, write_trades

from crypto_pipeline.assets.gold.assets import CHECKS, GoldConfig, gold_assets
from crypto_pipeline.assets.silver.indicators import silver_indicators
from crypto_pipeline.assets.silver.ohlcv import silver_ohlcv
from crypto_pipeline.resources.s3 import S3Resource

T0 = 1704067200000
PORTFOLIO = """portfolios:
  - name: dg
    start: "2024-01-01T00:00:00Z"
    cash: 100
    holdings: [{symbol: SOLUSDT, quantity: 2, avg_cost: 170}]
    intervals: [1m]
"""


@pytest.fixture()
def setup(spark, minio_stack, pg_instance, tmp_path, monkeypatch):
    from dagster_pyspark import PySparkResource

    st, cr = minio_stack.settings, minio_stack.creds
    bucket = f"gold-it-{uuid.uuid4().hex[:8]}"
    s3 = S3Resource(endpoint=st.s3_endpoint, access_key=cr.minio_user, secret_key=cr.minio_password, bucket=bucket)
    s3.client().make_bucket(bucket)
    trades, _ = simulate({"SOLUSDT": 4.0, "BTCUSDT": 3.0}, T0, 25 * 60, seed=5)
    write_trades(spark, s3.uri("bronze", "trades"), trades)
    f = tmp_path / "portfolio.yaml"
    f.write_text(PORTFOLIO)
    monkeypatch.setenv("PORTFOLIO_FILE", str(f))
    resources = {"spark": PySparkResource(spark_config={k: v for k, v in spark.sparkContext.getConf().getAll()
                                                        if k.startswith(("spark.hadoop", "spark.sql"))}), "s3": s3}
    cfg = RunConfig(ops={"gold": GoldConfig(windows={"1m": [10], "5m": [3]}, anomaly_window=5)})
    return pg_instance, resources, cfg, f


def test_materialise_gold_after_silver(setup):
    instance, resources, cfg, _ = setup
    result = materialize([silver_ohlcv, silver_indicators, gold_assets], instance=instance, resources=resources,
                         run_config=cfg)
    assert result.success
    risk = instance.get_latest_materialization_event(AssetKey("gold_risk")).asset_materialization.metadata
    assert risk["rows_written"].value > 20 and risk["full_rebuild"].value is True
    assert risk["windows"].value == {"1m": [10], "5m": [3]}
    assert risk["latest_bar_ms"].value["1m"] >= T0 + 20 * 60_000
    port = instance.get_latest_materialization_event(AssetKey("gold_portfolio")).asset_materialization.metadata
    assert port["rows_written"].value > 20 and port["position_rows_computed"].value == port["rows_computed"].value
    evals = result.get_asset_check_evaluations()
    assert {e.check_name for e in evals} == {n for cs in CHECKS.values() for n, _ in cs}
    assert all(e.passed for e in evals), [(e.check_name, e.metadata) for e in evals if not e.passed]

    again = materialize([gold_assets], instance=instance, resources=resources, run_config=cfg)
    meta = instance.get_latest_materialization_event(AssetKey("gold_risk")).asset_materialization.metadata
    assert again.success and meta["skipped_no_new_silver_commits"].value is True


def test_oversold_ledger_fails_the_run_with_a_clear_error(setup):
    instance, resources, cfg, f = setup
    f.write_text(PORTFOLIO.replace("intervals: [1m]", "intervals: [1m]\n    ledger: [{time: '2024-01-01T00:03:00Z', "
                                   "type: sell, symbol: SOLUSDT, quantity: 3, price: 171}]"))
    result = materialize([gold_assets], instance=instance,
                         resources=resources, run_config=cfg, raise_on_error=False,
                         selection=[AssetKey("gold_portfolio")])
    assert not result.success
    err = str(result.get_step_failure_events()[0].step_failure_data.error)
    assert "portfolio.yaml" in err and "portfolios[0] (dg)" in err and "sells 3 SOLUSDT but only 2 is held" in err
