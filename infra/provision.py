"""Post-start provisioning, idempotent: the databases in PostgreSQL (with the serving schema and roles), the
bucket in MinIO, Kafka's SCRAM users and ACLs, and the least-privilege identities the components use instead of
the superuser/root (docs/security.md)."""
from __future__ import annotations

import json

import psycopg
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider
from psycopg import sql

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


def ensure_login_role(conn: psycopg.Connection, role: str, password: str) -> bool:
    """A LOGIN role with ``password`` (set again every time, so a rotated password takes effect). True if created."""
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is not None
    verb = "alter role {} with login password {}" if exists else "create role {} login password {}"
    conn.execute(sql.SQL(verb).format(sql.Identifier(role), sql.Literal(password)))
    return not exists


def ensure_dagster_storage_role(host: str, port: int, creds: Credentials, database: str) -> bool:
    """Dagster's run/event/schedule storage gets its own role owning only its database (not the superuser):
    it cannot read the serving database nor create roles. Tables an older deploy created as the superuser are
    handed over. Nobody else may connect to that database."""
    role = creds.dagster_pg_user
    with psycopg.connect(host=host, port=port, user=creds.postgres_user, password=creds.postgres_password,
                         dbname="postgres", autocommit=True, connect_timeout=5) as conn:
        created = ensure_login_role(conn, role, creds.dagster_pg_password)
        conn.execute(sql.SQL("alter database {} owner to {}").format(sql.Identifier(database), sql.Identifier(role)))
        conn.execute(sql.SQL("revoke all on database {} from public").format(sql.Identifier(database)))
    with psycopg.connect(host=host, port=port, user=creds.postgres_user, password=creds.postgres_password,
                         dbname=database, autocommit=True, connect_timeout=5) as conn:
        # ALTER TABLE also moves the sequences and indexes a table owns
        rows = conn.execute(
            """select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'S')
                 and pg_get_userbyid(c.relowner) <> %s
                 and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i'))""",
            (role,)).fetchall()
        for name, kind in rows:
            what = "sequence" if kind == "S" else "table"
            conn.execute(sql.SQL("alter {} public.{} owner to {}").format(sql.SQL(what), sql.Identifier(name),
                                                                           sql.Identifier(role)))
    return created


def bucket_policy(bucket: str) -> dict:
    """Read, write and delete inside one bucket; nothing else (no other bucket, no bucket creation, no admin)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
         "Resource": [f"arn:aws:s3:::{bucket}"]},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                                       "s3:ListMultipartUploadParts"],
         "Resource": [f"arn:aws:s3:::{bucket}/*"]},
    ]}


def ensure_pipeline_s3_user(settings: StackSettings, creds: Credentials) -> None:
    """The pipeline's MinIO user, limited to the lakehouse bucket; MinIO's root stays with deploy (admin)."""
    admin = MinioAdmin(endpoint=f"{settings.bind_host}:{settings.minio.port}", secure=False,
                       credentials=StaticProvider(creds.minio_user, creds.minio_password))
    policy = f"cdp-{settings.minio.bucket}-rw"
    admin.policy_add(policy, policy=bucket_policy(settings.minio.bucket))
    admin.user_add(creds.pipeline_s3_user, creds.pipeline_s3_password)  # sets the (rotated) secret again
    attached = json.loads(admin.user_info(creds.pipeline_s3_user)).get("policyName", "")
    if policy not in attached.split(","):
        admin.attach_policy([policy], user=creds.pipeline_s3_user)


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
        ensure_dagster_storage_role(settings.bind_host, settings.postgres.port, creds, settings.postgres.dagster_db)
        migrated = ensure_serving_schema(settings, creds)
        done = ([f"created databases {', '.join(made)}"] if made else []) + ([migrated] if migrated else [])
        return "; ".join(done) or None
    if service == "minio":
        made = ensure_bucket(settings, creds)
        ensure_pipeline_s3_user(settings, creds)
        return f"created bucket {settings.minio.bucket}" if made else None
    if service == "kafka":
        from infra.kafka_acl import ensure_users_and_acls
        from infra.kafka_config import ADMIN_USER
        from infra.services import kafka_connection

        return ensure_users_and_acls(kafka_connection(settings, creds, ADMIN_USER), creds)
    return None


def main(argv: list[str] | None = None) -> int:
    """`python -m infra.provision --postgres HOST:PORT --minio HOST:PORT --kafka HOST:PORT`: the same provisioning
    for docker compose (its one-shot `provision` service, the only container that gets the admin credentials)."""
    import argparse
    import os
    from pathlib import Path

    from infra.credentials import _from_values
    from shared.settings import load_stack_settings

    ap = argparse.ArgumentParser(prog="python -m infra.provision")
    ap.add_argument("--postgres", required=True, metavar="HOST:PORT")
    ap.add_argument("--minio", required=True, metavar="HOST:PORT")
    ap.add_argument("--kafka", metavar="HOST:PORT", help="the broker (the admin logs in with SASL/PLAIN)")
    a = ap.parse_args(argv)
    creds = _from_values(dict(os.environ), Path("<environment>"))
    for service, (host, port) in (("postgres", a.postgres.rsplit(":", 1)), ("minio", a.minio.rsplit(":", 1))):
        port_var = "POSTGRES_PORT" if service == "postgres" else "MINIO_PORT"
        settings = load_stack_settings(env={**os.environ, "STACK_BIND_HOST": host, port_var: port})
        print(f"[provision] {service}: {provision(service, settings, creds) or 'up to date'}", flush=True)
    if a.kafka:
        from infra.kafka_acl import ensure_users_and_acls
        from infra.kafka_config import ADMIN_MECHANISM, ADMIN_USER
        from shared.kafka_connection import KafkaConnection

        admin = KafkaConnection(a.kafka, username=ADMIN_USER, password=creds.kafka_admin_password,
                                mechanism=ADMIN_MECHANISM)
        print(f"[provision] kafka: {ensure_users_and_acls(admin, creds) or 'up to date'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
