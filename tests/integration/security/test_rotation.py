"""Credential rotation on real PostgreSQL, MinIO and Kafka (what ./deploy.sh --rotate-credentials does, without
supervisord): the superuser's password and Kafka's SCRAM passwords change first with the old admin logins, .env is
rewritten 0600, MinIO restarts with its new root password and Kafka with its new server.properties, provisioning
applies the roles' and the pipeline user's new secrets; old ones are refused."""
import stat
from dataclasses import replace

import psycopg
import pytest
from minio import Minio
from minio.error import S3Error

from infra.credentials import load_credentials
from infra.health import kafka_ok
from infra.local_stack import LocalStack
from infra.provision import provision
from infra.rotate import ROTATED, rotate_credentials


@pytest.fixture()
def own_stack():
    stack = LocalStack.create(kafka_sasl=True)  # its own: rotating must not touch the session stack's credentials
    yield stack
    stack.close()


def pg_login(stack, user, password, db="postgres"):
    s = stack.settings
    psycopg.connect(host=s.bind_host, port=s.postgres.port, user=user, password=password, dbname=db,
                    connect_timeout=5).close()


def s3_login(stack, user, password):
    s = stack.settings
    Minio(f"{s.bind_host}:{s.minio.port}", user, password, secure=False).bucket_exists(s.minio.bucket)


def test_rotation_applies_every_new_secret_and_refuses_the_old_ones(own_stack):
    stack = own_stack
    stack.start("postgres", "minio", "kafka")
    old = stack.creds
    kafka_config = stack.specs()["kafka"].env["KAFKA_CONFIG_SHA256"]
    env_file = stack.base / ".env"
    assert rotate_credentials(env_file, stack.settings) == list(ROTATED)
    new = load_credentials(env_file)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert (new.postgres_user, new.minio_user, new.kafka_cluster_id) == (old.postgres_user, old.minio_user,
                                                                         old.kafka_cluster_id)
    for a, b in ((old.postgres_password, new.postgres_password), (old.minio_password, new.minio_password),
                 (old.pipeline_s3_password, new.pipeline_s3_password), (old.dagster_pg_password, new.dagster_pg_password),
                 (old.simulator_token, new.simulator_token), (old.kafka_admin_password, new.kafka_admin_password),
                 (old.kafka_streaming_password, new.kafka_streaming_password),
                 (old.kafka_pipeline_password, new.kafka_pipeline_password),
                 (old.kafka_controller_password, new.kafka_controller_password)):
        assert a != b
    # what deploy does next: restart the programs whose secrets changed, provision again
    stack.creds = new
    # Kafka's config changed (the controller's secret): deploy's supervisord sees a new KAFKA_CONFIG_SHA256
    assert stack.specs()["kafka"].env["KAFKA_CONFIG_SHA256"] != kafka_config
    stack.stop("minio")
    stack.start("minio")
    stack.stop("kafka")
    stack.start("kafka")  # health check as the new admin, provisioning sets the passwords again
    provision("postgres", stack.settings, new)

    pg_login(stack, new.postgres_user, new.postgres_password)
    pg_login(stack, new.dagster_pg_user, new.dagster_pg_password, stack.settings.postgres.dagster_db)
    s3_login(stack, new.minio_user, new.minio_password)
    s3_login(stack, new.pipeline_s3_user, new.pipeline_s3_password)
    for user, password, db in ((old.postgres_user, old.postgres_password, "postgres"),
                               (old.dagster_pg_user, old.dagster_pg_password, stack.settings.postgres.dagster_db)):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            pg_login(stack, user, password, db)
    for user, password in ((old.minio_user, old.minio_password), (old.pipeline_s3_user, old.pipeline_s3_password)):
        with pytest.raises(S3Error):
            s3_login(stack, user, password)
    for user, pw_old in (("admin", old.kafka_admin_password), ("streaming", old.kafka_streaming_password),
                         ("pipeline", old.kafka_pipeline_password)):
        assert kafka_ok(stack.kafka(user)) is None, user  # stack.creds are the new ones
        refused = kafka_ok(replace(stack.kafka(user), password=pw_old)) or ""
        assert "Authentication failed" in refused, (user, refused)
