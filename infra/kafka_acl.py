"""Kafka's identities and what each may do, applied by provisioning (idempotent) as the admin user.

Who reads and writes what (checked against the code):
* ``streaming`` (the streaming service): creates ``crypto_raw_<symbol>`` and ``crypto_dlq`` (streaming/topics.py),
  writes them with an idempotent producer (streaming/producer.py), and reads its own raw topics back to resume
  and to re-check failed deliveries (streaming/resume.py; consumer groups ``streaming-resume-*``,
  ``streaming-redeliver-*``, assigned partitions, nothing committed).
* ``pipeline`` (bronze writer service, Dagster runs and sensors, the serving-ticker consumer): reads the raw
  topics and the DLQ, never writes them; its groups are ``crypto-pipeline-*`` (bronze's driver reader and
  watermark reader, Spark's Kafka source via its ``kafka.group.id``) and ``serving-ticker*`` (the live consumer,
  which commits offsets).
* ``admin`` (deploy: provisioning, health checks, ./monitor.sh's lag table; SASL/PLAIN) and ``controller`` (the
  broker's own login to its controller) are super users (infra/kafka_config.py), so they need no ACL.

The StandardAuthorizer denies everything else (``allow.everyone.if.no.acl.found=false``)."""
from __future__ import annotations

from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ResourcePatternType,
                                   ResourceType, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion)

from infra.credentials import Credentials
from infra.kafka_config import MECHANISM, PIPELINE_USER, STREAMING_USER, scram_users
from shared.envelope import DLQ_TOPIC, TOPIC_PREFIX
from shared.kafka_connection import KafkaConnection

PIPELINE_GROUP_PREFIXES = ("crypto-pipeline-", "serving-ticker")
STREAMING_GROUP_PREFIX = "streaming-"
SCRAM_ITERATIONS = 8192  # Kafka's minimum for SCRAM-SHA-512 is 4096

_T, _G, _C = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.BROKER  # BROKER is Kafka's CLUSTER (id 4)
_PREFIXED, _LITERAL = ResourcePatternType.PREFIXED, ResourcePatternType.LITERAL
Grant = tuple[ResourceType, str, ResourcePatternType, AclOperation]


def grants() -> dict[str, list[Grant]]:
    """user -> (resource type, name, pattern, operation) it is allowed; nothing else is."""
    raw, dlq = (_T, TOPIC_PREFIX, _PREFIXED), (_T, DLQ_TOPIC, _LITERAL)
    op = AclOperation
    streaming = [(*raw, o) for o in (op.CREATE, op.WRITE, op.DESCRIBE, op.READ)]
    streaming += [(*dlq, o) for o in (op.CREATE, op.WRITE, op.DESCRIBE)]
    streaming += [(_G, STREAMING_GROUP_PREFIX, _PREFIXED, op.READ), (_C, "kafka-cluster", _LITERAL, op.IDEMPOTENT_WRITE)]
    pipeline = [(*t, o) for t in (raw, dlq) for o in (op.READ, op.DESCRIBE)]
    pipeline += [(_G, prefix, _PREFIXED, op.READ) for prefix in PIPELINE_GROUP_PREFIXES]
    return {STREAMING_USER: streaming, PIPELINE_USER: pipeline}


def acl_bindings() -> list[AclBinding]:
    return [AclBinding(rtype, name, pattern, f"User:{user}", "*", operation, AclPermissionType.ALLOW)
            for user, user_grants in grants().items() for rtype, name, pattern, operation in user_grants]


def set_passwords(admin_conn: KafkaConnection, passwords: dict[str, str], timeout: float = 15.0) -> None:
    """Set SCRAM passwords (user -> password) with the admin's login: creates a missing user, and a rotated
    password takes effect for every new login (sessions already authenticated stay)."""
    admin = AdminClient(admin_conn.client_config(log_level=0))
    mech = ScramMechanism.SCRAM_SHA_512 if MECHANISM == "SCRAM-SHA-512" else ScramMechanism.SCRAM_SHA_256
    upserts = [UserScramCredentialUpsertion(name, ScramCredentialInfo(mech, SCRAM_ITERATIONS), pw.encode())
               for name, pw in sorted(passwords.items())]
    for fut in admin.alter_user_scram_credentials(upserts, request_timeout=timeout).values():
        fut.result()


def ensure_users_and_acls(admin_conn: KafkaConnection, creds: Credentials, timeout: float = 15.0) -> str | None:
    """Every SCRAM user with its password from .env, and the ACLs of :func:`grants` (idempotent: creating an
    existing binding changes nothing). Returns what changed."""
    if not admin_conn.authenticated:
        return None  # a PLAINTEXT broker (test fixture): no users, no authorizer
    set_passwords(admin_conn, scram_users(creds), timeout)
    admin = AdminClient(admin_conn.client_config(log_level=0))
    existing = set(admin.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                                        AclOperation.ANY, AclPermissionType.ANY)
                                       ).result(timeout=timeout))
    missing = [b for b in acl_bindings() if b not in existing]
    if missing:
        for fut in admin.create_acls(missing, request_timeout=timeout).values():
            fut.result()
    return f"created {len(missing)} Kafka ACLs" if missing else None
