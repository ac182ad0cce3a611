"""Serving fixtures: connections to the session's PostgreSQL `serving` database (migrated by the stack's
provisioning, as deploy does) as the admin, the pipeline writer and the read-only reader."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # serving_helpers

from serving.db import READER_ROLE, WRITER_ROLE, ServingDsn  # noqa: E402
from serving_helpers import dsn_of  # noqa: E402


@pytest.fixture(scope="session")
def admin_dsn(postgres_stack) -> ServingDsn:
    return dsn_of(postgres_stack)


@pytest.fixture(scope="session")
def writer_dsn(postgres_stack) -> ServingDsn:
    return dsn_of(postgres_stack, WRITER_ROLE)


@pytest.fixture(scope="session")
def reader_dsn(postgres_stack) -> ServingDsn:
    return dsn_of(postgres_stack, READER_ROLE)


@pytest.fixture()
def lake(minio_stack):
    """s3a base for this test's tables."""
    import uuid

    return f"s3a://{minio_stack.settings.minio.bucket}/it-serving/{uuid.uuid4().hex[:10]}"
