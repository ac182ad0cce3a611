"""Shared fixtures. Integration tests get real services from one LocalStack per test session
(started lazily, only the services a test asks for)."""
from __future__ import annotations

import os

import pytest

from infra.layout import Layout

# Silver assets materialised in-process would renice the whole test session (and its shared Spark JVM);
# the priority helper has its own tests with explicit values.
os.environ.setdefault("SPARK_BATCH_NICENESS", "0")


LAYER_DIRS = ("unit", "integration", "e2e", "bench")


def pytest_collection_modifyitems(items):
    # the folder a test lives in is its marker (tests/unit -> unit, ...), so `-m` selections are complete
    for item in items:
        parts = item.path.relative_to(item.config.rootpath).parts
        layer = next((p for p in parts[1:2] if p in LAYER_DIRS), None)
        if layer and not item.get_closest_marker(layer):
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture(scope="session")
def local_stack():
    from infra.local_stack import LocalStack

    if not Layout().kafka_libs.exists():
        pytest.fail("services not installed: run ./test.sh (it runs the installer) or ./infra/bootstrap.sh")
    stack = LocalStack.create()
    yield stack
    stack.close()


@pytest.fixture(scope="session")
def kafka_stack(local_stack):
    local_stack.start("kafka")
    return local_stack


@pytest.fixture(scope="session")
def minio_stack(local_stack):
    local_stack.start("minio")
    return local_stack


@pytest.fixture(scope="session")
def postgres_stack(local_stack):
    local_stack.start("postgres")
    return local_stack


@pytest.fixture()
def pg_instance(postgres_stack, monkeypatch, tmp_path):
    """A Dagster instance whose run/event storage is the test stack's PostgreSQL (as in the deploy stack)."""
    from dagster import DagsterInstance

    from infra.dagster_config import write_dagster_home

    # LocalStack.env(): the deploy stack's Dagster environment, with the admin S3 keys tests' own buckets need
    for k, v in postgres_stack.env().items():
        monkeypatch.setenv(k, v)
    home = tmp_path / "dagster_home"
    write_dagster_home(home, postgres_stack.layout.root)
    instance = DagsterInstance.from_config(str(home))
    yield instance
    instance.dispose()
