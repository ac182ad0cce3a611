"""Post-start provisioning, idempotent: the databases in PostgreSQL (with the serving schema and roles)
and the bucket in MinIO."""
from __future__ import annotations

import psycopg
from minio import Minio

from infra.credentials import Credentials
from shared.settings import StackSettings


def ensure_databases(host: str, port: int, creds: Credentials, names: list[str]) -> list[str]:
    created = []
    with psycopg.connect(host=host, port=port, user=creds.postgres_user, password=creds.postgres_password,
                         dbname="postgres", autocommit=True, connect_timeout=5) as conn:
        for name in names:
            if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
                conn.execute(f'create database "{name}"')
                created.append(name)
    return created


def ensure_serving_schema(settings: StackSettings, creds: Credentials) -> str | None:
    """Serving roles' logins, then the Alembic migrations (as the database owner). Returns what changed."""
    from serving.db import ServingDsn
    from serving.migrate import provision as provision_serving

    admin = ServingDsn(settings.bind_host, settings.postgres.port, settings.postgres.serving_db,
                       creds.postgres_user, creds.postgres_password)
    return provision_serving(admin, creds.serving_writer_password, creds.serving_reader_password)


def minio_client(settings: StackSettings, creds: Credentials) -> Minio:
    return Minio(f"{settings.bind_host}:{settings.minio.port}", access_key=creds.minio_user,
                 secret_key=creds.minio_password, secure=False)


def ensure_bucket(settings: StackSettings, creds: Credentials) -> bool:
    client = minio_client(settings, creds)
    if client.bucket_exists(settings.minio.bucket):
        return False
    client.make_bucket(settings.minio.bucket)
    return True


def provision(service: str, settings: StackSettings, creds: Credentials) -> str | None:
    """Run the provisioning that belongs to `service` once it is healthy; returns what it did."""
    if service == "postgres":
        made = ensure_databases(settings.bind_host, settings.postgres.port, creds,
                                [settings.postgres.dagster_db, settings.postgres.serving_db])
        migrated = ensure_serving_schema(settings, creds)
        done = ([f"created databases {', '.join(made)}"] if made else []) + ([migrated] if migrated else [])
        return "; ".join(done) or None
    if service == "minio":
        return f"created bucket {settings.minio.bucket}" if ensure_bucket(settings, creds) else None
    return None
