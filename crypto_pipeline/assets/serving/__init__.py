"""Serving layer: the lakehouse mirrored into PostgreSQL for SQL readers (dashboard, BI).

`serving_definitions()` is merged into the code location by definitions.py (its own resource: the
serving database as pipeline_writer)."""
from dagster import Definitions

from crypto_pipeline.assets.serving.assets import SERVING_ASSETS, serving_automation
from crypto_pipeline.resources.serving import serving_database_from_env


def serving_definitions() -> Definitions:
    return Definitions(assets=SERVING_ASSETS, sensors=[serving_automation],
                       resources={"serving_db": serving_database_from_env()})
