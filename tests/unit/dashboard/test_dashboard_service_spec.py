"""The dashboard as a stack service: one definition (infra/services.py) with its port from
config/stack.yaml, loopback, and only the read-only role's secret in its environment."""
from infra.credentials import ensure_credentials
from infra.layout import Layout
from infra.services import build_specs
from infra.supervisor import render_conf
from shared.settings import SettingsError, load_stack_settings

import pytest


def test_dashboard_gets_its_port_and_only_the_reader_password(tmp_path):
    creds, _ = ensure_credentials(tmp_path / ".env")
    layout = Layout(var=tmp_path / "var")
    specs = {s.name: s for s in build_specs(layout, load_stack_settings(env={"DASHBOARD_PORT": "18050"}), creds)}
    dash = specs["dashboard"]
    assert dash.port == 18050 and dash.env["DASHBOARD_PORT"] == "18050" and dash.env["DASHBOARD_HOST"] == "127.0.0.1"
    assert dash.env["SERVING_READER_PASSWORD"] == creds.serving_reader_password
    secrets = {creds.postgres_password, creds.minio_password, creds.serving_writer_password}
    assert not secrets & set(dash.env.values())
    assert not any("SERVING_READER_PASSWORD" in s.env for n, s in specs.items() if n != "dashboard")
    # supervisord's (0600) config holds each program's own secrets: the reader's only in the dashboard's section
    sections = render_conf(layout, list(specs.values())).split("[program:")
    assert [sec.split("]", 1)[0] for sec in sections if creds.serving_reader_password in sec] == ["dashboard"]
    assert specs["postgres"].priority < dash.priority


def test_a_bad_dashboard_port_names_the_field_and_value():
    with pytest.raises(SettingsError, match=r"field 'dashboard.port' = '0'"):
        load_stack_settings(env={"DASHBOARD_PORT": "0"})
