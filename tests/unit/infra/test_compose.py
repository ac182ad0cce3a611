"""docker-compose.yml describes the same stack as the native deploy: same services, healthchecks,
loopback-only ports whose env names and defaults match config/stack.yaml."""
import re

import yaml

from infra.credentials import GENERATED
from shared.settings import ENV_OVERRIDES, ROOT, load_stack_settings

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
REQUIRED = {"kafka", "minio", "postgres", "spark-master", "spark-worker", "dagster-webserver", "dagster-daemon",
            "simulator", "streaming", "provision", "serving-ticker", "dashboard", "bronze-writer"}


def test_every_required_service_is_present_with_a_healthcheck():
    assert REQUIRED <= set(SERVICES)
    # one-shot jobs (restart "no", e.g. the serving migrations) finish instead of staying healthy
    missing = [name for name, svc in SERVICES.items()
               if "test" not in (svc.get("healthcheck") or {}) and svc.get("restart") != "no"]
    assert missing == []


def test_ports_bind_loopback_and_use_the_native_env_names_and_defaults():
    settings = load_stack_settings(env={})
    native = {var: str(_get(settings, section, field)) for var, (section, field) in ENV_OVERRIDES.items()}
    seen = set()
    for name, svc in SERVICES.items():
        for mapping in svc.get("ports", []):
            m = re.fullmatch(r"127\.0\.0\.1:\$\{(\w+):-(\d+)\}:(\d+)", mapping)
            assert m, f"{name}: port mapping {mapping!r} must be 127.0.0.1:${{VAR:-default}}:port"
            var, default = m.group(1), m.group(2)
            assert var in ENV_OVERRIDES, f"{name}: {var} is not a native setting name"
            assert default == native[var], f"{name}: {var} default {default} != config/stack.yaml {native[var]}"
            seen.add(var)
    assert {"KAFKA_PORT", "MINIO_PORT", "MINIO_CONSOLE_PORT", "POSTGRES_PORT", "DAGSTER_PORT", "SIMULATOR_PORT",
            "DASHBOARD_PORT"} <= seen


def test_every_variable_compose_interpolates_is_a_native_setting_or_generated_credential():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    unknown = used - set(ENV_OVERRIDES) - set(GENERATED)
    assert unknown == set()


def _get(settings, section, field):
    return getattr(settings if section is None else getattr(settings, section), field)


def _interpolated(value) -> set[str]:
    return set(re.findall(r"\$\{(\w+)", str(value)))


def test_every_credential_is_guarded_and_given_only_to_its_container():
    text = (ROOT / "docker-compose.yml").read_text()
    for var in GENERATED:
        for m in re.finditer(r"(?<!\$)\$\{%s([^}]*)\}" % var, text):
            assert m.group(1).startswith(":?"), f"${{{var}{m.group(1)}}}: an incomplete .env must stop compose"
    holders = {}
    for name, svc in SERVICES.items():
        for value in (svc.get("environment") or {}).values():
            for var in _interpolated(value) & set(GENERATED):
                holders.setdefault(var, set()).add(name)
    assert holders["MINIO_ROOT_PASSWORD"] == {"minio"}
    assert holders["POSTGRES_PASSWORD"] == {"postgres"}
    assert holders["MINIO_PIPELINE_PASSWORD"] == {"dagster-daemon", "bronze-writer"}
    assert holders["POSTGRES_DAGSTER_PASSWORD"] == {"dagster-webserver", "dagster-daemon", "bronze-writer"}
    assert holders["SERVING_WRITER_PASSWORD"] == {"dagster-daemon", "serving-ticker"}
    assert holders["SERVING_READER_PASSWORD"] == {"dashboard"}
    assert holders["SIMULATOR_CONTROL_TOKEN"] == {"simulator"}
    assert holders["KAFKA_STREAMING_PASSWORD"] == {"streaming"}
    assert holders["KAFKA_PIPELINE_PASSWORD"] == {"dagster-daemon", "bronze-writer", "serving-ticker"}
    assert holders["KAFKA_ADMIN_PASSWORD"] == holders["KAFKA_CONTROLLER_PASSWORD"] == {"kafka"}
    # the whole .env goes to the one-shot provisioning (the admin) only
    assert [n for n, svc in SERVICES.items() if "env_file" in svc] == ["provision"]


def test_kafka_authenticates_every_listener_and_each_client_has_its_own_login():
    kafka = SERVICES["kafka"]["environment"]
    protocols = dict(p.split(":") for p in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}  # no PLAINTEXT listener
    assert kafka["KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512,PLAIN"  # PLAIN: the admin
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert "user_admin=" in kafka["KAFKA_LISTENER_NAME_CLIENT_PLAIN_SASL_JAAS_CONFIG"]  # the only PLAIN user
    assert "--kafka kafka:9092" in SERVICES["provision"]["command"]
    users = {name: (svc.get("environment") or {}).get("KAFKA_SASL_USERNAME") for name, svc in SERVICES.items()}
    assert users["streaming"] == "streaming"
    assert {n for n, u in users.items() if u == "pipeline"} == {"dagster-webserver", "dagster-daemon",
                                                                 "bronze-writer", "serving-ticker"}
    for name, svc in SERVICES.items():  # a login is a user with its own password (the webserver only loads code)
        env = svc.get("environment") or {}
        if "KAFKA_SASL_PASSWORD" in env:
            assert _interpolated(env["KAFKA_SASL_PASSWORD"]) == {f"KAFKA_{env['KAFKA_SASL_USERNAME'].upper()}_PASSWORD"}
