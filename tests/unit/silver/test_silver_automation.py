"""Silver's trigger: the cron cadence, plus one run as soon as bronze has trades on a fresh deploy (so the first
candles, gold rows and checks do not wait for the first cron tick), never while a silver run is in progress."""
import datetime as dt

import dagster as dg
import pytest

from crypto_pipeline.assets.silver.ohlcv import silver_ohlcv

pytestmark = pytest.mark.unit
OFF_CRON = dt.datetime(2026, 11, 29, 12, 2, 30, tzinfo=dt.timezone.utc)  # between two */5 ticks


def _evaluate(defs, instance, cursor=None):
    return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor, evaluation_time=OFF_CRON)


def test_first_bronze_trades_request_silver_once_off_the_cron_tick():
    stub = dg.ResourceDefinition.none_resource()  # conditions are evaluated, nothing is executed
    defs = dg.Definitions(assets=[dg.AssetSpec("bronze_trades"), silver_ohlcv], resources={"s3": stub, "spark": stub})
    with dg.DagsterInstance.ephemeral() as instance:
        first = _evaluate(defs, instance)
        assert first.get_num_requested(silver_ohlcv.key) == 0  # no bronze yet: nothing to build from
        instance.report_runless_asset_event(dg.AssetMaterialization("bronze_trades"))
        res = _evaluate(defs, instance, first.cursor)
        assert res.get_num_requested(silver_ohlcv.key) == 1
        instance.report_runless_asset_event(dg.AssetMaterialization("bronze_trades"))
        again = _evaluate(defs, instance, res.cursor)
        assert again.get_num_requested(silver_ohlcv.key) == 0  # requested once; then the cron cadence


def test_built_silver_waits_for_the_cron_tick():
    stub = dg.ResourceDefinition.none_resource()
    defs = dg.Definitions(assets=[dg.AssetSpec("bronze_trades"), silver_ohlcv], resources={"s3": stub, "spark": stub})
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("bronze_trades"))
        instance.report_runless_asset_event(dg.AssetMaterialization("silver_ohlcv"))
        first = _evaluate(defs, instance)
        instance.report_runless_asset_event(dg.AssetMaterialization("bronze_trades"))
        res = _evaluate(defs, instance, first.cursor)
        assert res.get_num_requested(silver_ohlcv.key) == 0
