"""Gold follows silver in the deploy stack: the gold assets carry eager() conditions on silver_ohlcv and
silver_indicators, evaluated by this sensor (on from the first deploy, like silver_automation)."""
from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

gold_automation = AutomationConditionSensorDefinition(
    "gold_automation", target=AssetSelection.groups("gold"), default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30, description="Evaluates the gold assets' eager() conditions every 30 s.")
