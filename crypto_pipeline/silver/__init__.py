"""Pure silver computation (no Dagster): Binance-exact candles in Spark, TA-Lib-exact indicators,
the outlier rule and the incremental bookkeeping. The Dagster assets in crypto_pipeline/assets/silver
only wire these to resources."""
