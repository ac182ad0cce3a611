"""Kafka authentication settings without a broker: the client helper (confluent-kafka config, Spark options),
the broker's SASL properties, the ACL grants and which service gets which login. The broker itself is tested in
tests/integration/security/test_kafka_auth.py."""
import pytest

from infra.credentials import ensure_credentials
from infra.kafka_acl import grants
from infra.kafka_config import PIPELINE_USER, STREAMING_USER, server_properties
from infra.layout import Layout
from infra.services import PIPELINE_SECRET_ENV, build_specs
from shared.kafka_connection import KafkaConnection, KafkaConnectionError
from shared.settings import load_stack_settings
from streaming.config import load_streaming_settings


def test_no_user_means_plaintext_and_a_user_means_sasl():
    plain = KafkaConnection("h:1")
    assert plain.client_config() == {"bootstrap.servers": "h:1", "security.protocol": "PLAINTEXT"}
    assert plain.spark_options() == {"kafka.bootstrap.servers": "h:1", "kafka.security.protocol": "PLAINTEXT"}
    sasl = KafkaConnection("h:1", username="pipeline", password='p"w\\x')
    assert sasl.client_config(**{"group.id": "g"}) == {
        "bootstrap.servers": "h:1", "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "pipeline", "sasl.password": 'p"w\\x', "group.id": "g"}
    opts = sasl.spark_options()
    assert opts["kafka.security.protocol"] == "SASL_PLAINTEXT" and opts["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    # a quote or backslash in the password cannot end the JAAS value early
    assert opts["kafka.sasl.jaas.config"] == ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                                              'username="pipeline" password="p\\"w\\\\x";')
    assert "p\"w" not in repr(sasl)  # never printed by accident
    assert KafkaConnection.of("h:2") == KafkaConnection("h:2") and KafkaConnection.of(sasl) is sasl


@pytest.mark.parametrize("kwargs, names", [
    ({"protocol": "SASL_PLAINTEXT"}, "KAFKA_SASL_USERNAME"),
    ({"username": "u"}, "KAFKA_SASL_PASSWORD"),
    ({"username": "u", "password": "p", "mechanism": "GSSAPI"}, "KAFKA_SASL_MECHANISM='GSSAPI'"),
    ({"protocol": "SSL"}, "KAFKA_SECURITY_PROTOCOL='SSL'"),
    ({"protocol": "PLAINTEXT", "username": "u", "password": "secret-pw"}, "PLAINTEXT but a SASL user"),
])
def test_inconsistent_settings_are_refused_naming_the_variable(kwargs, names):
    with pytest.raises(KafkaConnectionError) as exc:
        KafkaConnection("h:1", **kwargs)
    assert names in str(exc.value) and "secret-pw" not in str(exc.value)


def test_environment_round_trip_and_the_streaming_settings_read_it():
    conn = KafkaConnection("h:1", username="streaming", password="pw-123456789")
    assert KafkaConnection.from_env(conn.as_env()) == conn
    assert KafkaConnection.from_env({"KAFKA_BOOTSTRAP_SERVERS": "h:1"}).protocol == "PLAINTEXT"
    assert load_streaming_settings(env=conn.as_env()).kafka.connection() == conn


def test_the_broker_authenticates_every_listener_with_secrets_only_in_its_properties(tmp_path):
    creds, _ = ensure_credentials(tmp_path / ".env")
    text = server_properties(tmp_path / "data", "127.0.0.1", 9092, 9093, creds)
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["listener.security.protocol.map"] == "CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT"
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512,PLAIN"
    # PLAIN knows the admin only (the services' SCRAM keys are in the metadata log, not in this file)
    assert props["listener.name.client.plain.sasl.jaas.config"].count("user_") == 1
    assert f'user_admin="{creds.kafka_admin_password}"' in props["listener.name.client.plain.sasl.jaas.config"]
    assert creds.kafka_streaming_password not in text and creds.kafka_pipeline_password not in text
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:controller"
    assert f'password="{creds.kafka_controller_password}"' in props["listener.name.controller.plain.sasl.jaas.config"]
    plain = dict(line.split("=", 1) for line in server_properties(tmp_path, "127.0.0.1", 1, 2).splitlines())
    assert plain["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    assert "authorizer.class.name" not in plain


def test_grants_the_streaming_writer_and_the_pipeline_reader_nothing_more():
    g = {user: {(r.name, name, p.name, op.name) for r, name, p, op in user_grants} for user, user_grants in grants().items()}
    assert ("TOPIC", "crypto_raw_", "PREFIXED", "WRITE") in g[STREAMING_USER]
    assert ("TOPIC", "crypto_dlq", "LITERAL", "WRITE") in g[STREAMING_USER]
    assert not [x for x in g[PIPELINE_USER] if x[3] not in ("READ", "DESCRIBE")]  # the pipeline never writes
    assert {x[3] for x in g[STREAMING_USER]} <= {"CREATE", "WRITE", "DESCRIBE", "READ", "IDEMPOTENT_WRITE"}


def test_each_service_gets_only_its_own_kafka_login(tmp_path):
    creds, _ = ensure_credentials(tmp_path / ".env")
    specs = {s.name: s for s in build_specs(Layout(var=tmp_path / "var"), load_stack_settings(env={}), creds)}
    users = {name: s.env.get("KAFKA_SASL_USERNAME") for name, s in specs.items()}
    assert users["streaming"] == STREAMING_USER
    assert {n for n, u in users.items() if u == PIPELINE_USER} == {"dagster-webserver", "dagster-daemon",
                                                                   "serving-ticker", "bronze-writer"}
    assert "KAFKA_SASL_PASSWORD" in PIPELINE_SECRET_ENV and "KAFKA_SASL_PASSWORD" not in specs["dagster-webserver"].env
    assert specs["streaming"].env["KAFKA_SASL_PASSWORD"] == creds.kafka_streaming_password
    assert specs["bronze-writer"].env["KAFKA_SASL_PASSWORD"] == creds.kafka_pipeline_password
    every_value = " ".join(" ".join(s.argv) + " ".join(s.env.values()) for s in specs.values() if s.name != "streaming")
    assert creds.kafka_streaming_password not in every_value  # nobody else holds the writer's password
    secrets = (creds.kafka_admin_password, creds.kafka_controller_password)
    assert not [x for x in secrets if x in every_value + " ".join(specs["streaming"].env.values())]
