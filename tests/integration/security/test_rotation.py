"""Credential rotation on real PostgreSQL and MinIO (what ./deploy.sh --rotate-credentials does, without
supervisord): the superuser's password changes first with the old one, .env is rewritten 0600, MinIO restarts with
its new root password, provisioning applies the roles' and the pipeline user's new secrets; old ones are refused."""
import stat

import psycopg
import pytest
from minio import Minio
from minio.error import S3Error

from infra.credentials import load_credentials
from infra.local_stack import LocalStack
from infra.provision import provision
from infra.rotate import ROTATED, rotate_credentials


@pytest.fixture()
def own_stack():
    stack = LocalStack.create()  # its own: rotating must not touch the session stack's credentials
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
    stack.start("postgres", "minio")
    old = stack.creds
    env_file = stack.base / ".env"
    assert rotate_credentials(env_file, stack.settings) == list(ROTATED)
    new = load_credentials(env_file)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert (new.postgres_user, new.minio_user, new.kafka_cluster_id) == (old.postgres_user, old.minio_user,
                                                                         old.kafka_cluster_id)
    for a, b in ((old.postgres_password, new.postgres_password), (old.minio_password, new.minio_password),
                 (old.pipeline_s3_password, new.pipeline_s3_password), (old.dagster_pg_password, new.dagster_pg_password),
                 (old.simulator_token, new.simulator_token)):
        assert a != b
    # what deploy does next: restart the programs whose secrets changed, provision again
    stack.creds = new
    stack.stop("minio")
    stack.start("minio")
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
