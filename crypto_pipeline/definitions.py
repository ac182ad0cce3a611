"""The Dagster code location `crypto_pipeline`: every asset, check, schedule and sensor, by layer.

Each layer is a package under crypto_pipeline/assets; its modules are scanned for assets and asset
checks (grouped by layer in the UI), and its SCHEDULES and SENSORS lists are added here."""
from dagster import (
    Definitions,
    in_process_executor,
    load_asset_checks_from_package_module,
    load_assets_from_modules,
    load_assets_from_package_module,
)

from crypto_pipeline.assets import bronze, ops, silver
from crypto_pipeline.assets.serving import serving_definitions
from crypto_pipeline.resources.environment import resources_from_env

LAYERS = [bronze, silver]

def _lakehouse() -> Definitions:
    """Bronze, silver and the ops assets (a function: Dagster allows one Definitions at module scope)."""
    return Definitions(
        assets=[*load_assets_from_modules([ops]),
                *[a for layer in LAYERS for a in load_assets_from_package_module(layer, group_name=layer.__name__.rsplit(".", 1)[1])]],
        asset_checks=[c for layer in LAYERS for c in load_asset_checks_from_package_module(layer)],
        schedules=[s for layer in LAYERS for s in layer.SCHEDULES],
        sensors=[s for layer in LAYERS for s in layer.SENSORS],
        resources=resources_from_env(),
        # A run's steps share its process and Spark session: a silver run was four Python processes and three
        # JVMs starting up (tens of CPU-seconds at full priority, every few minutes, next to the bronze stream).
        executor=in_process_executor,
    )


defs = Definitions.merge(_lakehouse(), serving_definitions())
