"""The serving schema under Alembic and the two roles: applies from empty, re-applies as a no-op, and the
reader can read but not write (nor create anything); the writer writes rows but changes no schema."""
import uuid

import psycopg
import pytest
from psycopg import errors

from serving import migrate
from serving_helpers import dsn_of

TABLES = {"candles", "gold_risk", "gold_correlation", "gold_portfolio", "gold_portfolio_positions", "gold_signals",
          "gold_anomalies", "latest_ticker", "sync_state", "alembic_version"}


def _tables(conn) -> set[str]:
    return {r[0] for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")}


@pytest.fixture()
def empty_db(postgres_stack, admin_dsn):
    name = "it_mig_" + uuid.uuid4().hex[:8]
    with psycopg.connect(host=admin_dsn.host, port=admin_dsn.port, user=admin_dsn.user, password=admin_dsn.password,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    yield dsn_of(postgres_stack, dbname=name)
    with psycopg.connect(host=admin_dsn.host, port=admin_dsn.port, user=admin_dsn.user, password=admin_dsn.password,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f'drop database "{name}" with (force)')


def test_migrations_apply_from_empty_and_rerun_is_a_no_op(empty_db):
    with empty_db.connect() as conn:
        assert _tables(conn) == set() and migrate.current_revision(conn) is None
    migrate.run(empty_db)
    with empty_db.connect() as conn:
        assert _tables(conn) == TABLES
        assert migrate.current_revision(conn) == migrate.head_revision()
        conn.execute("insert into sync_state (table_name, last_synced_commit) values ('candles', '20260101')")
        conn.commit()
    migrate.run(empty_db)  # a second deploy: nothing re-created, data kept
    with empty_db.connect() as conn:
        assert conn.execute("select last_synced_commit from sync_state").fetchall() == [("20260101",)]
    migrate.run(empty_db, "downgrade", "base")
    with empty_db.connect() as conn:
        assert _tables(conn) == {"alembic_version"}
    migrate.run(empty_db)
    with empty_db.connect() as conn:
        assert _tables(conn) == TABLES


def test_deploy_provisioning_migrated_the_serving_db_to_head(admin_dsn):
    with admin_dsn.connect() as conn:
        assert TABLES <= _tables(conn)
        assert migrate.current_revision(conn) == migrate.head_revision()
        cols = dict(conn.execute("select column_name, data_type from information_schema.columns "
                                 "where table_name = 'candles'").fetchall())
    assert cols["close"] == "numeric" and cols["rsi_14"] == "double precision" and cols["source"] == "text"


def test_reader_selects_but_cannot_write_or_create(reader_dsn):
    with reader_dsn.connect(autocommit=True) as conn:
        for t in TABLES - {"alembic_version"}:
            conn.execute(f"select count(*) from {t}").fetchone()
        attempts = [
            ("insert into latest_ticker (symbol, source) values ('BTCUSDT', 'simulator')", errors.InsufficientPrivilege),
            ("update candles set close = 0", errors.InsufficientPrivilege),
            ("delete from sync_state", errors.InsufficientPrivilege),
            ("truncate gold_risk", errors.InsufficientPrivilege),
            ("create table mine (x int)", errors.InsufficientPrivilege),
            ("create temporary table mine (x int)", errors.InsufficientPrivilege),
            ("drop table candles", errors.InsufficientPrivilege),
        ]
        for stmt, exc in attempts:
            with pytest.raises(exc):
                conn.execute(stmt)


def test_writer_writes_rows_but_changes_no_schema(writer_dsn):
    with writer_dsn.connect() as conn:
        conn.execute("insert into latest_ticker (symbol, last_price, event_time_ms, source) "
                     "values ('ZZZUSDT', 1.5, 1, 'simulator')")
        conn.execute("create temporary table staging (x int) on commit drop")  # staging for COPY
        assert conn.execute("select last_price from latest_ticker where symbol = 'ZZZUSDT'").fetchone()[0] == 1.5
        conn.rollback()
    with writer_dsn.connect(autocommit=True) as conn:
        for stmt in ("create table mine (x int)", "drop table candles", "alter table candles add column x int"):
            with pytest.raises((errors.InsufficientPrivilege,)):
                conn.execute(stmt)


def test_roles_need_their_generated_password(writer_dsn, reader_dsn):
    for dsn in (writer_dsn, reader_dsn):
        assert dsn.password and dsn.password not in ("reader", "pipeline_writer", "postgres")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host=dsn.host, port=dsn.port, dbname=dsn.dbname, user=dsn.user, password="wrong")
