"""The project's own PostgreSQL cluster (own data dir and port), with generated credentials."""
import psycopg
import pytest


def test_psycopg_round_trip_in_serving_db(postgres_stack):
    s, c = postgres_stack.settings, postgres_stack.creds
    with psycopg.connect(host=s.bind_host, port=s.postgres.port, user=c.postgres_user,
                         password=c.postgres_password, dbname=s.postgres.serving_db, autocommit=True) as conn:
        conn.execute("create table if not exists it_roundtrip (id int primary key, price numeric(38,18))")
        conn.execute("truncate it_roundtrip")
        with conn.cursor() as cur:
            cur.executemany("insert into it_roundtrip values (%s, %s)", [(i, f"{i}.000000000000000001") for i in range(100)])
        rows = conn.execute("select id, price::text from it_roundtrip order by id").fetchall()
    assert len(rows) == 100
    assert rows[7] == (7, "7.000000000000000001")  # exact decimals survive


def test_both_databases_exist_and_wrong_password_is_refused(postgres_stack):
    s, c = postgres_stack.settings, postgres_stack.creds
    with psycopg.connect(host=s.bind_host, port=s.postgres.port, user=c.postgres_user,
                         password=c.postgres_password, dbname="postgres") as conn:
        names = {r[0] for r in conn.execute("select datname from pg_database")}
    assert {s.postgres.dagster_db, s.postgres.serving_db} <= names
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=s.bind_host, port=s.postgres.port, user=c.postgres_user, password="wrong", dbname="postgres")
