"""Gold tests reuse silver's Spark session fixture and its bronze test data (simulator trades)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "silver"))  # silver_bronze_data

from tests.integration.silver.conftest import spark  # noqa: E402,F401  (the session-wide Spark on MinIO)
