"""Dashboard fixtures: the session's PostgreSQL with the serving schema (migrated by the stack's
provisioning), seeded by the pipeline_writer role, and the dashboard service started from its
infra/services.py spec (the one deploy runs) with the read-only reader role."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # seed, browser helpers

from seed import Seeded, seed  # noqa: E402
from serving.db import READER_ROLE, WRITER_ROLE, ServingDsn  # noqa: E402


def dsn(stack, role: str) -> ServingDsn:
    s, c = stack.settings, stack.creds
    pw = {WRITER_ROLE: c.serving_writer_password, READER_ROLE: c.serving_reader_password}[role]
    return ServingDsn(s.bind_host, s.postgres.port, s.postgres.serving_db, role, pw)


@pytest.fixture(scope="session")
def writer(postgres_stack):
    conn = dsn(postgres_stack, WRITER_ROLE).connect(autocommit=True, application_name="dashboard-tests")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def seeded(writer) -> Seeded:
    return seed(writer)


@pytest.fixture(scope="session")
def dashboard(postgres_stack, seeded) -> str:
    """Base URL of the running dashboard service."""
    postgres_stack.start("dashboard")
    s = postgres_stack.settings
    return f"http://{s.bind_host}:{s.dashboard.port}"


@pytest.fixture()
def reseed(writer, seeded):
    """For tests that change rows: put the same seeded day back afterwards."""
    yield
    seed(writer, now_ms=seeded.now_ms)
