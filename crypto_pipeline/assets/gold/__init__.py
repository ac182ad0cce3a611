"""Gold layer: risk, correlation, portfolio, signals and anomalies from silver (spec §4).

Exports for definitions.py: the layer's modules are scanned for assets and asset checks. The assets carry
eager() conditions on silver, evaluated by silver's automation sensor (crypto_pipeline/assets/silver/automation.py)
so that gold joins silver's run; the layer adds no schedule or sensor of its own."""

SCHEDULES: list = []
SENSORS: list = []
