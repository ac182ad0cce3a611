import os
import stat

import pytest

from infra.credentials import ensure_credentials, load_credentials
from shared.settings import SettingsError, load_stack_settings


def test_defaults_bind_loopback():
    s = load_stack_settings(env={})
    assert s.bind_host == "127.0.0.1"
    assert s.kafka_bootstrap == "127.0.0.1:9092"


def test_env_override_wins():
    assert load_stack_settings(env={"KAFKA_PORT": "19092"}).kafka.port == 19092


def test_bad_value_names_file_field_and_value():
    with pytest.raises(SettingsError) as exc:
        load_stack_settings(env={"POSTGRES_PORT": "70000"})
    msg = str(exc.value)
    assert "stack.yaml" in msg and "postgres.port" in msg and "70000" in msg and "POSTGRES_PORT" in msg


def test_unknown_key_is_rejected(tmp_path):
    f = tmp_path / "stack.yaml"
    f.write_text("bind_host: 127.0.0.1\nkafka: {port: 1, controller_port: 2, heap: 1g, extra: 3}\n"
                 "minio: {port: 3, console_port: 4, bucket: abc}\npostgres: {port: 5, dagster_db: d, serving_db: s}\n"
                 "dagster: {port: 6}\nsimulator: {port: 7}\n")
    with pytest.raises(SettingsError, match=r"kafka\.extra"):
        load_stack_settings(f, env={})


def test_invalid_yaml_is_reported_with_the_file(tmp_path):
    f = tmp_path / "stack.yaml"
    f.write_text("kafka: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_stack_settings(f, env={})


def test_credentials_generated_once_private_and_stable(tmp_path):
    path = tmp_path / ".env"
    first, created = ensure_credentials(path)
    assert created
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second, created_again = ensure_credentials(path)
    assert not created_again and second == first
    assert len(first.postgres_password) >= 24 and first.minio_password != first.postgres_password
    assert first.postgres_password not in repr(first)  # never printed by accident
    assert load_credentials(path) == first


def test_missing_entries_are_completed_not_regenerated(tmp_path):
    path = tmp_path / ".env"
    path.write_text("POSTGRES_USER=me\nPOSTGRES_PASSWORD=keepme\n")
    creds, created = ensure_credentials(path)
    assert created and creds.postgres_password == "keepme" and creds.minio_password


def test_two_stacks_never_share_credentials(tmp_path):
    a, _ = ensure_credentials(tmp_path / "a.env")
    b, _ = ensure_credentials(tmp_path / "b.env")
    assert a.postgres_password != b.postgres_password and a.minio_password != b.minio_password
