"""The rendered supervisord config: restart policies, ordered priorities, logs, and no secret in the file."""
import configparser

from infra.credentials import ensure_credentials
from infra.layout import Layout
from infra.services import build_specs
from infra.supervisor import render_conf, secret_env
from shared.settings import load_stack_settings


def test_conf_has_restart_policies_and_keeps_secrets_out(tmp_path):
    layout = Layout(var=tmp_path / "var")
    creds, _ = ensure_credentials(tmp_path / ".env")
    specs = build_specs(layout, load_stack_settings(env={}), creds)
    text = render_conf(layout, specs)
    assert creds.postgres_password not in text and creds.minio_password not in text
    cp = configparser.RawConfigParser()
    cp.read_string(text)
    programs = {s.split(":", 1)[1] for s in cp.sections() if s.startswith("program:")}
    assert {"kafka", "minio", "postgres", "dagster-webserver", "dagster-daemon"} <= programs
    for name in programs:
        sec = cp[f"program:{name}"]
        assert sec["autorestart"] == "true" and sec["stdout_logfile"].endswith(f"{name}.log")
    # storage starts before Dagster, Dagster stops before storage
    assert int(cp["program:postgres"]["priority"]) < int(cp["program:dagster-webserver"]["priority"])
    assert "%(ENV_MINIO_ROOT_PASSWORD)s" in cp["program:minio"]["environment"]
    assert secret_env(specs)["MINIO_ROOT_PASSWORD"] == creds.minio_password
