"""The serving assets materialise through Dagster on a PostgreSQL-backed instance: silver -> silver
assets -> serving_candles / serving_candle_indicators (and a gold-shaped table -> serving_gold_anomalies) in one run, as the
pipeline_writer role, with their metadata; a second run with nothing new writes nothing."""
import sys
import uuid
from pathlib import Path

from dagster import AssetKey, AutomationCondition, materialize

sys.path.insert(0, str(Path(__file__).parents[1] / "silver"))

from silver_bronze_data import simulate, write_trades  # noqa: E402

from crypto_pipeline.assets.serving.assets import (SERVING_ASSETS, serving_candle_indicators,  # noqa: E402
                                                   serving_candles)
from crypto_pipeline.assets.silver.indicators import silver_indicators  # noqa: E402
from crypto_pipeline.assets.silver.ohlcv import silver_ohlcv  # noqa: E402
from crypto_pipeline.resources.s3 import S3Resource  # noqa: E402
from crypto_pipeline.resources.serving import ServingDatabase  # noqa: E402
from serving_helpers import anomaly_row, write_gold  # noqa: E402

T0 = 1704067200000


def test_serving_assets_materialise_after_silver_as_the_writer_role(spark, minio_stack, pg_instance, writer_dsn):
    from dagster_pyspark import PySparkResource

    st, cr = minio_stack.settings, minio_stack.creds
    bucket = f"serving-it-{uuid.uuid4().hex[:8]}"
    s3 = S3Resource(endpoint=st.s3_endpoint, access_key=cr.minio_user, secret_key=cr.minio_password, bucket=bucket)
    s3.client().make_bucket(bucket)
    trades, _ = simulate({"DOTUSDT": 3.0}, T0, 3 * 60, seed=9)
    write_trades(spark, s3.uri("bronze", "trades"), trades)
    write_gold(spark, s3.uri("gold", "anomalies"), [anomaly_row("DAGUSDT", m, float(m)) for m in range(4)])
    with writer_dsn.connect(autocommit=True) as conn:
        conn.execute("delete from sync_state where table_name in ('candles', 'candles:indicators', 'gold_anomalies')")
        conn.execute("delete from candles where symbol = 'DOTUSDT'")

    db = ServingDatabase(host=writer_dsn.host, port=writer_dsn.port, dbname=writer_dsn.dbname,
                         password=writer_dsn.password)
    resources = {"spark": PySparkResource(spark_config={k: v for k, v in spark.sparkContext.getConf().getAll()
                                                        if k.startswith(("spark.hadoop", "spark.sql"))}),
                 "s3": s3, "serving_db": db}
    gold_anomalies = next(a for a in SERVING_ASSETS if a.key == AssetKey("serving_gold_anomalies"))
    assets = [silver_ohlcv, silver_indicators, serving_candles, serving_candle_indicators, gold_anomalies]
    first = materialize(assets, instance=pg_instance, resources=resources, selection=[a.key for a in assets])
    assert first.success
    meta = pg_instance.get_latest_materialization_event(AssetKey("serving_candles")).asset_materialization.metadata
    with writer_dsn.connect(autocommit=True) as conn:
        n = conn.execute("select count(*) from candles where symbol = 'DOTUSDT'").fetchone()[0]
        sources = {r[0] for r in conn.execute("select distinct source from candles where symbol = 'DOTUSDT'")}
        anomalies = conn.execute("select count(*) from gold_anomalies where symbol = 'DAGUSDT'").fetchone()[0]
    assert n > 0 and meta["rows_upserted"].value == n and meta["symbols"].value == ["DOTUSDT"]
    assert sources == {"simulator"} and anomalies == 4
    # the ohlcv sync ran before silver_indicators (priority), so the indicator columns came with the second sync
    ind = pg_instance.get_latest_materialization_event(
        AssetKey("serving_candle_indicators")).asset_materialization.metadata
    # (the candles whose indicator rows silver_indicators wrote are re-read; with 3 minutes of trades they are NULL)
    assert ind["skipped_no_new_commits"].value is False and ind["rows_staged"].value > 0
    order = [e.step_key for e in pg_instance.all_logs(first.run_id)
             if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"]
    assert order.index("serving_candles") < order.index("silver_indicators"), order
    gmeta = pg_instance.get_latest_materialization_event(
        AssetKey("serving_gold_anomalies")).asset_materialization.metadata
    assert gmeta["rows_upserted"].value == 4

    # nothing new upstream: the syncs report a skip and write nothing
    assert materialize([serving_candles, gold_anomalies], instance=pg_instance, resources=resources).success
    again = pg_instance.get_latest_materialization_event(AssetKey("serving_candles")).asset_materialization.metadata
    assert again["skipped_no_new_commits"].value is True


def test_every_serving_asset_follows_its_upstream_eagerly():
    for a in SERVING_ASSETS:
        assert a.group_names_by_key[a.key] == "serving"
        assert a.automation_conditions_by_key[a.key] == AutomationCondition.eager()
        assert a.dependency_keys  # silver or gold upstream
