"""Deploy-time validation: loopback unless --expose, private files from their first byte, loose .env tightened,
and the Spark resource keeps S3 keys out of its config (shown in the UI) and off the JVM's command line."""
import os
import stat

import pytest

from infra.credentials import ensure_credentials
from infra.preflight import PreflightError, check_bind_host
from infra.private_files import private_dir, tighten, write_private


@pytest.fixture()
def open_umask():
    old = os.umask(0)  # the most permissive umask: modes must not depend on it
    yield
    os.umask(old)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_bind_hosts_pass_silently(host):
    assert check_bind_host(host, expose=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_other_bind_hosts_need_expose_and_then_warn(host):
    with pytest.raises(PreflightError, match=r"bind_host = .*not a loopback.*--expose"):
        check_bind_host(host, expose=False)
    assert "WARNING" in check_bind_host(host, expose=True)


def test_deploy_refuses_a_public_bind_host_before_touching_anything(tmp_path, monkeypatch):
    from infra.deploy import deploy
    from infra.layout import Layout

    monkeypatch.setenv("STACK_BIND_HOST", "0.0.0.0")
    layout = Layout(var=tmp_path / "var")
    monkeypatch.setenv("CDP_ENV_FILE", str(tmp_path / ".env"))
    with pytest.raises(PreflightError, match="--expose"):
        deploy(layout, timeout=1)
    assert not (tmp_path / ".env").exists() and not (tmp_path / "var").exists()


def test_credentials_file_is_0600_from_creation_even_with_umask_0(tmp_path, open_umask):
    path = tmp_path / "sub" / ".env"
    creds, created = ensure_credentials(path)
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for secret in (creds.dagster_pg_password, creds.pipeline_s3_password, creds.simulator_token):
        assert len(secret) >= 24
    assert creds.pipeline_s3_user != creds.minio_user and creds.dagster_pg_user != creds.postgres_user


def test_an_old_env_file_gets_the_new_secrets_and_keeps_its_values(tmp_path):
    path = tmp_path / ".env"
    first, _ = ensure_credentials(path)
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(("MINIO_PIPELINE", "SIMULATOR_"))]
    path.write_text("\n".join(lines) + "\n")
    again, created = ensure_credentials(path)
    assert created and again.postgres_password == first.postgres_password and again.simulator_token
    assert again.pipeline_s3_password != first.pipeline_s3_password


def test_write_private_and_tighten(tmp_path, open_umask):
    f = tmp_path / "a" / "b" / "secret"
    write_private(f, "x")
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and f.read_text() == "x"
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.write_text("y")
    os.chmod(loose, 0o644)
    assert tighten(loose) and stat.S_IMODE(loose.stat().st_mode) == 0o600
    assert not tighten(loose)  # already private: nothing to do
    assert private_dir(tmp_path / "d" / "e").is_dir()


def test_spark_resource_config_holds_no_secret(tmp_path):
    from dagster import EnvVar

    from crypto_pipeline.resources.spark import S3A_CREDENTIAL_KEYS, pyspark_resource

    (tmp_path / "hudi-spark-bundle.jar").write_bytes(b"")
    res = pyspark_resource("http://127.0.0.1:9000", EnvVar("S3_ACCESS_KEY"), EnvVar("S3_SECRET_KEY"),
                           jars_dir=str(tmp_path))
    assert not set(S3A_CREDENTIAL_KEYS) & set(res.spark_config)
    assert res.s3_secret_key == "S3_SECRET_KEY"  # the variable's name, resolved only when a run starts


def test_a_credential_in_the_builder_conf_is_refused():
    from crypto_pipeline.resources.spark import start_session

    with pytest.raises(ValueError, match="command line"):
        start_session({"spark.hadoop.fs.s3a.secret.key": "s3cr3t"})


def test_deploy_docker_generates_the_env_file_like_the_native_deploy(tmp_path, monkeypatch):
    from infra.deploy import deploy_docker
    from infra.layout import Layout

    monkeypatch.setenv("CDP_ENV_FILE", str(tmp_path / ".env"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker here: it must still have written the credentials
    assert deploy_docker(Layout(var=tmp_path / "var")) == 1
    env = (tmp_path / ".env").read_text()
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert "MINIO_PIPELINE_PASSWORD=" in env and "SIMULATOR_CONTROL_TOKEN=" in env


def test_a_loose_env_file_is_tightened_on_deploy(tmp_path, monkeypatch, capsys):
    from infra.deploy import prepare_credentials
    from infra.layout import Layout

    path = tmp_path / ".env"
    ensure_credentials(path)
    os.chmod(path, 0o644)
    monkeypatch.setenv("CDP_ENV_FILE", str(path))
    prepare_credentials(Layout(var=tmp_path / "var"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "readable by other users" in capsys.readouterr().out


def test_var_of_an_older_deploy_is_locked_down(tmp_path):
    from infra.deploy import lock_down_var
    from infra.layout import Layout

    layout = Layout(var=tmp_path / "var")
    for d in (layout.logs, layout.data("minio"), layout.etc):
        d.mkdir(parents=True)
        os.chmod(d, 0o755)
    os.chmod(layout.var, 0o755)
    os.chmod(layout.var / "data", 0o755)
    lock_down_var(layout)
    modes = {d: stat.S_IMODE(d.stat().st_mode) for d in (layout.var, layout.var / "data", layout.logs,
                                                          layout.data("minio"), layout.etc)}
    traverse = 0o711 if os.geteuid() == 0 else 0o700  # root: PostgreSQL (its own user) must reach its folders
    assert modes[layout.var] == modes[layout.var / "data"] == traverse
    assert modes[layout.logs] == modes[layout.data("minio")] == modes[layout.etc] == 0o700
