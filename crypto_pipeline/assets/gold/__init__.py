"""Gold layer: risk, correlation, portfolio, signals and anomalies from silver (spec §4).

Exports for definitions.py: the layer's modules are scanned for assets and asset checks; SCHEDULES and
SENSORS list its automation (the assets carry eager automation conditions on silver)."""
from crypto_pipeline.assets.gold.automation import gold_automation

SCHEDULES: list = []
SENSORS: list = [gold_automation]
