"""The rendered supervisord config: restart policies, ordered priorities, logs, and each program's secrets only
in its own section (supervisord's environment, which every child inherits, holds none)."""
import configparser
import stat

from infra.credentials import ensure_credentials
from infra.layout import Layout
from infra.services import build_specs
from infra.supervisor import render_conf, write_conf
from shared.settings import load_stack_settings


def test_conf_has_restart_policies_and_each_programs_secrets_only(tmp_path):
    layout = Layout(var=tmp_path / "var")
    creds, _ = ensure_credentials(tmp_path / ".env")
    specs = build_specs(layout, load_stack_settings(env={}), creds)
    text = render_conf(layout, specs)
    assert creds.postgres_password not in text  # the superuser's password is deploy's only
    cp = configparser.RawConfigParser()
    cp.read_string(text)
    programs = {s.split(":", 1)[1] for s in cp.sections() if s.startswith("program:")}
    assert {"kafka", "minio", "postgres", "dagster-webserver", "dagster-daemon"} <= programs
    for name in programs:
        sec = cp[f"program:{name}"]
        assert sec["autorestart"] == "true" and sec["stdout_logfile"].endswith(f"{name}.log")
        assert sec["killasgroup"] == "true"   # nothing outlives a kill
        # the bronze-writer's SIGTERM goes to its driver only: a SIGTERMed Spark JVM fails the commit being finished
        assert sec["stopasgroup"] == ("false" if name == "bronze-writer" else "true"), name
    # storage starts before Dagster, Dagster stops before storage
    assert int(cp["program:postgres"]["priority"]) < int(cp["program:dagster-webserver"]["priority"])
    sections = {n: cp[f"program:{n}"].get("environment", "") for n in programs}
    holders = {secret: sorted(n for n, env in sections.items() if secret in env)
               for secret in (creds.minio_password, creds.pipeline_s3_password, creds.dagster_pg_password,
                              creds.serving_writer_password, creds.serving_reader_password)}
    assert holders[creds.minio_password] == ["minio"]
    # the webserver only enqueues runs; the bronze-writer writes bronze and takes the writer locks in Dagster's db
    assert holders[creds.pipeline_s3_password] == ["bronze-writer", "dagster-daemon"]
    assert holders[creds.dagster_pg_password] == ["bronze-writer", "dagster-daemon", "dagster-webserver"]
    assert holders[creds.serving_writer_password] == ["dagster-daemon", "serving-ticker"]
    assert holders[creds.serving_reader_password] == ["dashboard"]
    assert "umask=077" in text


def test_conf_file_is_private_from_its_first_byte(tmp_path, monkeypatch):
    layout = Layout(var=tmp_path / "var")
    creds, _ = ensure_credentials(tmp_path / ".env")
    monkeypatch.setattr("os.umask", lambda m: 0)  # even a permissive umask must not matter
    path = write_conf(layout, build_specs(layout, load_stack_settings(env={}), creds))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_changed_symbol_override_or_simulator_rate_changes_the_programs_that_read_them(tmp_path, monkeypatch):
    """./deploy.sh restarts a program whose config changed; supervisord's own environment is the one it
    started with, so ACTIVE_SYMBOLS must be in the consumer's config and the rate in the simulator's."""
    creds, _ = ensure_credentials(tmp_path / ".env")
    layout = Layout(var=tmp_path / "var")

    def specs(env: dict[str, str]) -> dict:
        for k in ("ACTIVE_SYMBOLS", "SIMULATOR_RATE"):
            monkeypatch.delenv(k, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return {s.name: s for s in build_specs(layout, load_stack_settings(env=env), creds)}

    base, more = specs({}), specs({"ACTIVE_SYMBOLS": "BTCUSDT,NEWCOINUSDT", "SIMULATOR_RATE": "200"})
    assert base["streaming"].env["ACTIVE_SYMBOLS"] == ""
    assert more["streaming"].env["ACTIVE_SYMBOLS"] == "BTCUSDT,NEWCOINUSDT"
    sim = more["simulator"].argv
    assert sim[sim.index("--rate") + 1] == "200" and base["simulator"].argv[base["simulator"].argv.index("--rate") + 1] == "20"
    assert "NEWCOINUSDT" in sim[sim.index("--symbols") + 1]
