"""A fresh s3a prefix per silver test so tables never leak between tests (the Spark session: the `spark`
fixture of tests/integration/conftest.py)."""
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # silver_bronze_data, silver_reference helpers


@pytest.fixture()
def lake(minio_stack):
    """s3a base for this test's tables."""
    return f"s3a://{minio_stack.settings.minio.bucket}/it-silver/{uuid.uuid4().hex[:10]}"
