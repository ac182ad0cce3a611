"""Bronze layer: raw Kafka records as typed Hudi tables on S3 (one per stream type).

Exports for definitions.py: the layer's modules are scanned for assets and asset checks; SCHEDULES and
SENSORS list its automation."""
from crypto_pipeline.assets.bronze.sensors import bronze_new_data_sensor
from crypto_pipeline.assets.bronze.stream_job import bronze_stream_keeper

SCHEDULES: list = []
SENSORS: list = [bronze_stream_keeper, bronze_new_data_sensor]
