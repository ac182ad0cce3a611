"""Gold tests use the session-wide Spark on MinIO (the `spark` fixture of tests/integration/conftest.py) and
silver's bronze test data (simulator trades)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "silver"))  # silver_bronze_data
