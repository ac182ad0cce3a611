"""Silver layer: Binance-exact OHLCV candles and TA-Lib-exact indicators from bronze.

Exports for definitions.py: the layer's modules are scanned for assets and asset checks; SCHEDULES and
SENSORS list its automation (the assets also carry eager automation conditions)."""
from crypto_pipeline.assets.silver.automation import silver_automation, silver_follows_bronze_commits

SCHEDULES: list = []
SENSORS: list = [silver_automation, silver_follows_bronze_commits]
