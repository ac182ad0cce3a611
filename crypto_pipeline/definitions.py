"""The Dagster code location `crypto_pipeline`: every asset, check, schedule and sensor, by layer."""
from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

from crypto_pipeline.assets import ops
from crypto_pipeline.resources.environment import resources_from_env

defs = Definitions(
    assets=load_assets_from_modules([ops]),
    resources=resources_from_env(),
)
