"""A plain local Spark (no Hudi/S3 jars) for the pure transformation tests."""
import pytest

from tests.plain_spark import end_plain_session, plain_session


@pytest.fixture(scope="session")
def spark():
    yield plain_session()
    end_plain_session()
