"""Silver layer: Binance-exact OHLCV candles and TA-Lib-exact indicators from bronze.

Exports for definitions.py: the layer's modules are scanned for assets and asset checks; SCHEDULES and
SENSORS list its automation."""
SCHEDULES: list = []
SENSORS: list = []
