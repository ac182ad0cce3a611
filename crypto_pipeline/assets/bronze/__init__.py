"""Bronze layer, Dagster side: the ``bronze_ingest`` multi-asset (a bounded run, from the UI or CLI) and its
checks. The continuous writer is the ``bronze-writer`` service (crypto_pipeline/bronze/service.py), which
reports its commits and check evaluations to these assets as runless events.

Exports for definitions.py: the layer's modules are scanned for assets and asset checks; SCHEDULES and
SENSORS list its automation."""
from crypto_pipeline.assets.bronze.sensors import bronze_new_data_sensor

SCHEDULES: list = []
SENSORS: list = [bronze_new_data_sensor]
