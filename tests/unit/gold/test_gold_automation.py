"""Gold follows silver: one evaluation of the automation conditions that requests silver_indicators (after a new
silver_ohlcv) requests the gold assets too, so they run in silver's run rather than beside it."""
import dagster as dg

from crypto_pipeline.assets.gold.assets import gold_assets
from crypto_pipeline.assets.silver.indicators import silver_indicators
from crypto_pipeline.assets.silver.ohlcv import silver_ohlcv

GOLD = {dg.AssetKey(f"gold_{t}") for t in ("risk", "correlation", "portfolio", "signals", "anomalies")}


def test_gold_is_requested_with_silver_indicators():
    stub = dg.ResourceDefinition.none_resource()  # conditions are evaluated, nothing is executed
    defs = dg.Definitions(assets=[silver_ohlcv, silver_indicators, gold_assets], resources={"s3": stub, "spark": stub})
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # nothing updated yet
        instance.report_runless_asset_event(dg.AssetMaterialization("silver_ohlcv"))
        res = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        requested = {k for k in GOLD | {silver_indicators.key} if res.get_num_requested(k)}
        assert requested == GOLD | {silver_indicators.key}
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=res.cursor)
        assert not any(again.get_num_requested(k) for k in GOLD)  # handled: not requested twice
