"""Least privilege on the real services: the pipeline's MinIO user reaches the lakehouse bucket only, Dagster's
storage role owns its database and nothing else; deploy's provisioning is idempotent and applies a rotated secret."""
import dataclasses
import io
import secrets

import psycopg
import pytest
from minio import Minio
from minio.error import S3Error

from infra.provision import ensure_dagster_storage_role, ensure_pipeline_s3_user


def _client(stack, user: str, password: str) -> Minio:
    s = stack.settings
    return Minio(f"{s.bind_host}:{s.minio.port}", access_key=user, secret_key=password, secure=False)


def test_pipeline_s3_user_is_limited_to_the_lakehouse_bucket(minio_stack):
    s, c = minio_stack.settings, minio_stack.creds
    root = _client(minio_stack, c.minio_user, c.minio_password)
    other = "it-other-" + secrets.token_hex(3)
    root.make_bucket(other)
    root.put_object(other, "private.txt", io.BytesIO(b"root only"), 9)

    pipe = _client(minio_stack, c.pipeline_s3_user, c.pipeline_s3_password)
    pipe.put_object(s.minio.bucket, "it/least.txt", io.BytesIO(b"ok"), 2)
    assert pipe.get_object(s.minio.bucket, "it/least.txt").read() == b"ok"
    assert [o.object_name for o in pipe.list_objects(s.minio.bucket, prefix="it/least")] == ["it/least.txt"]
    pipe.remove_object(s.minio.bucket, "it/least.txt")
    with pytest.raises(S3Error, match="AccessDenied"):
        pipe.get_object(other, "private.txt")
    with pytest.raises(S3Error, match="AccessDenied"):
        pipe.put_object(other, "forged.txt", io.BytesIO(b"x"), 1)
    with pytest.raises(S3Error, match="AccessDenied"):
        pipe.make_bucket("it-new-" + secrets.token_hex(3))
    assert other not in {b.name for b in pipe.list_buckets()}  # MinIO lists only what the policy reaches


def test_provisioning_again_applies_a_rotated_s3_secret(minio_stack):
    s, c = minio_stack.settings, minio_stack.creds
    rotated = dataclasses.replace(c, pipeline_s3_password=secrets.token_urlsafe(30))
    try:
        ensure_pipeline_s3_user(s, rotated)
        assert _client(minio_stack, c.pipeline_s3_user, rotated.pipeline_s3_password).bucket_exists(s.minio.bucket)
        with pytest.raises(S3Error, match="InvalidAccessKeyId|SignatureDoesNotMatch"):
            _client(minio_stack, c.pipeline_s3_user, c.pipeline_s3_password).bucket_exists(s.minio.bucket)
    finally:
        ensure_pipeline_s3_user(s, c)


def _connect(stack, user: str, password: str, db: str):
    s = stack.settings
    return psycopg.connect(host=s.bind_host, port=s.postgres.port, user=user, password=password, dbname=db,
                           autocommit=True, connect_timeout=5)


def test_dagster_storage_role_owns_its_database_only(postgres_stack):
    s, c = postgres_stack.settings, postgres_stack.creds
    # a table an older deploy created as the superuser is handed over on the next provisioning
    with _connect(postgres_stack, c.postgres_user, c.postgres_password, s.postgres.dagster_db) as conn:
        conn.execute("create table if not exists it_legacy (id serial primary key)")
    ensure_dagster_storage_role(s.bind_host, s.postgres.port, c, s.postgres.dagster_db)
    with _connect(postgres_stack, c.dagster_pg_user, c.dagster_pg_password, s.postgres.dagster_db) as conn:
        conn.execute("create table if not exists it_dagster (id int)")
        conn.execute("insert into it_legacy default values")
        assert conn.execute("select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user"
                            ).fetchone() == (False, False, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"create role it_forged_{secrets.token_hex(3)}")
    with _connect(postgres_stack, c.postgres_user, c.postgres_password, s.postgres.serving_db) as conn:
        conn.execute("create table if not exists it_serving_rows (id int)")
    with _connect(postgres_stack, c.dagster_pg_user, c.dagster_pg_password, s.postgres.serving_db) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from it_serving_rows")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create table it_dagster_in_serving (id int)")
    # and nobody but its owner (and the superuser) connects to Dagster's database
    with _connect(postgres_stack, c.postgres_user, c.postgres_password, "postgres") as conn:
        conn.execute("drop role if exists it_outsider")
        conn.execute("create role it_outsider login password 'it-outsider-pw'")
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        _connect(postgres_stack, "it_outsider", "it-outsider-pw", s.postgres.dagster_db)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(postgres_stack, c.dagster_pg_user, "wrong", s.postgres.dagster_db)
