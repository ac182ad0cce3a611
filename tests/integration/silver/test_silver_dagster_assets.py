"""silver_ohlcv, silver_indicators and the reconciliation check materialise through Dagster on a
PostgreSQL-backed instance, against bronze tables on MinIO; a fat-finger trade is excluded by the
outlier rule and counted in the run's metadata; the sensor notices a new bronze commit."""
import uuid

from dagster import AssetKey, build_sensor_context, materialize

from silver_bronze_data import simulate, trade_row, write_klines, write_trades

from crypto_pipeline.assets.silver.automation import latest_completed, silver_follows_bronze_commits
from crypto_pipeline.assets.silver.checks import silver_ohlcv_matches_exchange_klines
from crypto_pipeline.assets.silver.indicators import silver_indicators
from crypto_pipeline.assets.silver.ohlcv import silver_ohlcv
from crypto_pipeline.resources.s3 import S3Resource

T0 = 1704067200000




def test_sensor_parses_hudi_timeline_names():
    names = ["x/.hoodie/timeline/20240101000000000.commit.requested", "x/.hoodie/timeline/20240101000000000.inflight",
             "x/.hoodie/timeline/20240101000000000_20240101000005000.commit",
             "x/.hoodie/timeline/20240101000001000_20240101000009000.replacecommit"]
    assert latest_completed(names) == "20240101000009000"
    assert latest_completed(names[:2]) is None


def test_materialise_silver_assets_on_postgres(spark, minio_stack, pg_instance):
    from dagster_pyspark import PySparkResource

    st, cr = minio_stack.settings, minio_stack.creds
    bucket = f"silver-it-{uuid.uuid4().hex[:8]}"
    s3 = S3Resource(endpoint=st.s3_endpoint, access_key=cr.minio_user, secret_key=cr.minio_password, bucket=bucket)
    s3.client().make_bucket(bucket)
    trades, klines = simulate({"SOLUSDT": 4.0}, T0, 4 * 60, seed=5)
    fat_finger = trade_row("SOLUSDT", 10**9, "1800.00", "0.001", T0 + 61_000, False)  # 10x the price
    write_trades(spark, s3.uri("bronze", "trades"), trades + [fat_finger])
    write_klines(spark, s3.uri("bronze", "klines"), klines)

    resources = {"spark": PySparkResource(spark_config={k: v for k, v in spark.sparkContext.getConf().getAll()
                                                        if k.startswith(("spark.hadoop", "spark.sql"))}),
                 "s3": s3}
    result = materialize([silver_ohlcv, silver_indicators, silver_ohlcv_matches_exchange_klines],
                         instance=pg_instance, resources=resources)
    assert result.success
    meta = pg_instance.get_latest_materialization_event(AssetKey("silver_ohlcv")).asset_materialization.metadata
    assert meta["trades_read"].value == len(trades) + 1
    assert meta["excluded_by_reason"].value == {"price_outlier": 1} and meta["trades_excluded"].value == 1
    assert meta["candles_written"].value["1m"] == 4  # 3 closed minutes + the one holding the watermark
    ind = pg_instance.get_latest_materialization_event(AssetKey("silver_indicators")).asset_materialization.metadata
    assert ind["series_recomputed_from_origin"].value == 1  # only 1m has final candles yet
    assert ind["rows_written"].value == 3
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 1 and checks[0].passed, checks[0].metadata  # the outlier did not reach the candles
    assert checks[0].metadata["compared"].value == len(klines) - 1

    ctx = build_sensor_context(instance=pg_instance, resources={"s3": s3})
    first = silver_follows_bronze_commits(ctx)
    assert first.run_key.startswith("bronze-trades-")
    ctx2 = build_sensor_context(instance=pg_instance, resources={"s3": s3}, cursor=ctx.cursor)
    assert silver_follows_bronze_commits(ctx2).__class__.__name__ == "SkipReason"
