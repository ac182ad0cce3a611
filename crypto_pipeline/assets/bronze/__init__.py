"""Bronze layer: raw Kafka records as typed Hudi tables on S3 (one per stream type).

Exports for definitions.py: the layer's modules are scanned for assets and asset checks; SCHEDULES and
SENSORS list its automation."""
SCHEDULES: list = []
SENSORS: list = []
