"""Gold layer: risk, correlation, portfolio, signals and anomalies from silver (spec §4).

Pure computation on per-series numpy arrays lives here (metrics, risk, correlation, signals, anomalies,
portfolio); the Spark side (which rows changed, reading the series tails, writing only changed rows) is
job.py and lake.py; Dagster wiring is crypto_pipeline/assets/gold."""
