"""`./deploy.sh --rotate-credentials`: new passwords and tokens for a running stack, applied everywhere.

Order matters: the PostgreSQL superuser's password and Kafka's SCRAM passwords (streaming, pipeline) are changed
first, with the old admin logins (they are how everything else gets provisioned); then .env is rewritten (0600);
then the normal deploy re-renders supervisord's config and Kafka's server.properties, which restarts every program
whose secrets changed (Kafka with its new admin and controller secrets, MinIO with its new root password, Dagster,
the simulator, the Kafka clients), and provisioning sets the new passwords of Dagster's role and the pipeline's MinIO
user. User names and the Kafka cluster id stay."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg

from infra.credentials import GENERATED, load_credentials
from infra.kafka_acl import set_passwords
from infra.kafka_config import ADMIN_USER, scram_users
from infra.private_files import write_private
from infra.provision import ensure_login_role
from infra.services import kafka_connection
from shared.secrets import is_secret_name
from shared.settings import StackSettings

ROTATED = tuple(k for k in GENERATED if is_secret_name(k))


def rotate_credentials(env_file: Path, settings: StackSettings) -> list[str]:
    """Generate new secrets, apply the superuser's, rewrite .env. Returns the names rotated (never values)."""
    old = load_credentials(env_file)
    new = {k: GENERATED[k]() for k in ROTATED}
    with psycopg.connect(host=settings.bind_host, port=settings.postgres.port, user=old.postgres_user,
                         password=old.postgres_password, dbname="postgres", autocommit=True, connect_timeout=5) as conn:
        ensure_login_role(conn, old.postgres_user, new["POSTGRES_PASSWORD"])
    if settings.kafka.sasl:  # Kafka's SCRAM users, with the admin's old login (the broker still runs the old config)
        set_passwords(kafka_connection(settings, old, ADMIN_USER),
                      scram_users(replace(old, kafka_streaming_password=new["KAFKA_STREAMING_PASSWORD"],
                                          kafka_pipeline_password=new["KAFKA_PIPELINE_PASSWORD"])))
    lines = []
    for line in env_file.read_text().splitlines():  # same order and comments, new values
        name = line.split("=", 1)[0].strip()
        lines.append(f"{name}={new.pop(name)}" if name in new and not line.lstrip().startswith("#") else line)
    lines += [f"{k}={v}" for k, v in new.items()]  # (none: load_credentials required them all)
    write_private(env_file, "\n".join(lines) + "\n")
    return list(ROTATED)
