"""Serving layer: the lakehouse mirrored into PostgreSQL for SQL readers (dashboard, BI).

`serving_definitions()` is merged into the code location by definitions.py (its own resource: the
serving database as pipeline_writer)."""
from dagster import AssetSpec, Definitions

from crypto_pipeline.assets.serving.assets import SERVING_ASSETS
from crypto_pipeline.resources.serving import serving_database_from_env


# kept current by the serving-ticker service (not a Dagster run): it reports runless materialisations
latest_ticker = AssetSpec(
    "serving_latest_ticker", group_name="serving",
    description="PostgreSQL `latest_ticker`, fed live from the raw Kafka topics by the serving-ticker service "
                "(event-order guarded upserts; reported here about once a minute while rows change).",
    metadata={"table": "serving.public.latest_ticker", "service": "serving-ticker"})


def serving_definitions() -> Definitions:
    return Definitions(assets=[*SERVING_ASSETS, latest_ticker],
                       resources={"serving_db": serving_database_from_env()})
