"""The user's verbs end to end: ./deploy.sh brings every service up healthy, re-running it is safe,
./monitor.sh reports all healthy, data flows on its own (simulator -> streaming -> Kafka -> the
bronze-writer service -> a Hudi commit on MinIO), every bronze asset check executes in the stack and passes,
./stop.sh leaves no process of the stack behind.

Runs an isolated copy (own var dir, env file and free ports) so it never touches a developer's stack."""
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from infra.local_stack import free_port
from shared.settings import PORT_ENV_VARS, ROOT
from tests.e2e.process_secrets import secret_sightings
from tests.e2e.stack_logs import keep_logs_of_failure
from tests.e2e.ui_checks import CHECKS_QUERY, NEVER_EXECUTED, bronze_checks_expected, check_status, not_passing

# which program (with its children: Dagster's run workers and their Spark JVMs) may hold which secret, in its
# environment only; any other sighting — a command line, another program, a process outside the stack — fails
ALLOWED_HOLDERS = {
    "MINIO_ROOT_PASSWORD": {"minio"},
    "MINIO_PIPELINE_PASSWORD": {"dagster-daemon", "bronze-writer"},
    "POSTGRES_DAGSTER_PASSWORD": {"dagster-daemon", "dagster-webserver", "bronze-writer"},  # + the writer locks
    "SERVING_WRITER_PASSWORD": {"dagster-daemon", "serving-ticker"},
    "SERVING_READER_PASSWORD": {"dashboard"},
    "SIMULATOR_CONTROL_TOKEN": {"simulator"},
    "POSTGRES_PASSWORD": set(),  # the superuser's: deploy's provisioning only
    "KAFKA_STREAMING_PASSWORD": {"streaming"},  # the only writer of crypto_raw_* and crypto_dlq
    "KAFKA_PIPELINE_PASSWORD": {"dagster-daemon", "bronze-writer", "serving-ticker"},  # readers
    "KAFKA_ADMIN_PASSWORD": set(),       # deploy's provisioning and ./monitor.sh; the broker has it in its 0600 file
    "KAFKA_CONTROLLER_PASSWORD": set(),  # the broker's 0600 server.properties only
}



def stack_processes(var: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            env = p.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(var) in cmd or env.get("CDP_VAR_DIR") == str(var):
            found.append(p)
    return found


@pytest.fixture(scope="module")
def isolated_env(request):
    base = Path(tempfile.mkdtemp(prefix="cdp-e2e-"))
    os.chmod(base, 0o755)
    env = {**os.environ, "CDP_VAR_DIR": str(base / "var"), "CDP_ENV_FILE": str(base / ".env"),
           **{v: str(free_port()) for v in PORT_ENV_VARS}}
    yield base, env
    keep_logs_of_failure(request, base / "var")
    subprocess.run([str(ROOT / "stop.sh")], env=env, capture_output=True, timeout=180)
    for p in stack_processes(base / "var"):
        p.kill()
    shutil.rmtree(base, ignore_errors=True)


def bronze_trade_commits(base: Path, env: dict) -> list[str]:
    from infra.credentials import load_credentials
    from infra.provision import minio_client
    from shared.settings import load_stack_settings

    client = minio_client(load_stack_settings(env=env), load_credentials(base / ".env"))
    names = [o.object_name for o in client.list_objects(load_stack_settings(env=env).minio.bucket,
                                                         prefix="bronze/trades/.hoodie/timeline/")]
    return [n for n in names if n.endswith(".commit")]


def ticker_sources(base: Path, env: dict) -> set[str]:
    """`source` of the latest_ticker rows, read as the read-only serving role."""
    from infra.credentials import load_credentials
    from serving.db import READER_ROLE, ServingDsn
    from shared.settings import load_stack_settings

    s, c = load_stack_settings(env=env), load_credentials(base / ".env")
    dsn = ServingDsn(s.bind_host, s.postgres.port, s.postgres.serving_db, READER_ROLE, c.serving_reader_password)
    with dsn.connect(autocommit=True) as conn:
        return {r[0] for r in conn.execute("select source from latest_ticker where last_price is not null")}


def bronze_check_status(env: dict) -> dict[str, str]:
    """Every bronze asset check and the status the UI shows for it (NEVER EXECUTED when it has none)."""
    from infra.health import dagster_graphql
    from shared.settings import load_stack_settings

    s = load_stack_settings(env=env)
    nodes = dagster_graphql(f"http://{s.bind_host}:{s.dagster.port}", CHECKS_QUERY, timeout=30)["data"]["assetNodes"]
    return check_status(nodes, "bronze")


def run(cmd: str, env: dict, timeout: float = 600, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / cmd), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def assert_secrets_where_they_belong(base: Path) -> None:
    sightings = secret_sightings(base / "var", base / ".env")
    assert any(name == "MINIO_PIPELINE_PASSWORD" for name, *_ in sightings)  # the scan sees the stack
    assert any(name == "KAFKA_STREAMING_PASSWORD" for name, *_ in sightings)
    wrong = [s for s in sightings
             if s[1] == "cmdline" or s[2] not in ALLOWED_HOLDERS.get(s[0], {s[2]}) or s[2] is None]
    assert wrong == [], f"secrets visible where they do not belong (name, where, program, pid, process): {wrong}"
    spark_jvms = [s for s in sightings if s[4] == "java" and s[2] in ("dagster-daemon", "bronze-writer")]
    assert spark_jvms == [], spark_jvms  # the Spark JVM gets its S3 keys over py4j, not its environment


def assert_rotation_applied(base: Path, env: dict, old: dict[str, str]) -> None:
    import psycopg
    from minio import Minio
    from minio.error import S3Error

    from infra.credentials import read_env_file
    from shared.settings import load_stack_settings

    new = read_env_file(base / ".env")
    s = load_stack_settings(env=env)
    for name in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "MINIO_PIPELINE_PASSWORD", "POSTGRES_DAGSTER_PASSWORD",
                 "SIMULATOR_CONTROL_TOKEN", "KAFKA_ADMIN_PASSWORD", "KAFKA_STREAMING_PASSWORD", "KAFKA_PIPELINE_PASSWORD",
                 "KAFKA_CONTROLLER_PASSWORD"):
        assert new[name] != old[name], name
    from infra.credentials import load_credentials
    from infra.health import kafka_ok
    from infra.services import kafka_connection

    creds = load_credentials(base / ".env")
    for user in ("admin", "streaming", "pipeline"):  # Kafka: the new passwords log in, the old ones do not
        conn = kafka_connection(s, creds, user)
        assert kafka_ok(conn) is None, user
        refused = kafka_ok(replace(conn, password=old[f"KAFKA_{user.upper()}_PASSWORD"])) or ""
        assert "Authentication failed" in refused, (user, refused)
    for user, pw_key in (("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"), ("MINIO_PIPELINE_USER", "MINIO_PIPELINE_PASSWORD")):
        Minio(f"{s.bind_host}:{s.minio.port}", new[user], new[pw_key], secure=False).bucket_exists(s.minio.bucket)
        with pytest.raises(S3Error):
            Minio(f"{s.bind_host}:{s.minio.port}", old[user], old[pw_key], secure=False).bucket_exists(s.minio.bucket)
    for user, pw_key, db in (("POSTGRES_USER", "POSTGRES_PASSWORD", "postgres"),
                             ("POSTGRES_DAGSTER_USER", "POSTGRES_DAGSTER_PASSWORD", s.postgres.dagster_db)):
        psycopg.connect(host=s.bind_host, port=s.postgres.port, user=new[user], password=new[pw_key], dbname=db).close()
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host=s.bind_host, port=s.postgres.port, user=old[user], password=old[pw_key], dbname=db)


def test_deploy_monitor_stop(isolated_env):
    base, env = isolated_env
    first = run("deploy.sh", env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "all services healthy" in first.stdout
    assert "generated credentials" in first.stdout
    assert "serving schema empty -> " in first.stdout  # migrations applied by deploy
    creds = (base / ".env").read_text()
    secret = next(line.split("=", 1)[1] for line in creds.splitlines() if line.startswith("POSTGRES_PASSWORD="))
    assert secret not in first.stdout + first.stderr  # secrets never printed

    venv_made = (ROOT / ".venv" / "pyvenv.cfg").stat().st_ctime_ns
    again = run("deploy.sh", env)  # re-running on a running stack is safe
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "already running" in again.stdout
    # ... and leaves the running services' files alone: a rebuilt .venv pulls jars from under the JVMs
    assert (ROOT / ".venv" / "pyvenv.cfg").stat().st_ctime_ns == venv_made, "re-deploy rebuilt .venv"

    mon = run("monitor.sh", env, timeout=120)
    assert mon.returncode == 0, mon.stdout
    for svc in ("kafka", "minio", "postgres", "dagster-webserver", "dagster-daemon", "simulator", "streaming",
                "serving-ticker", "dashboard", "bronze-writer"):
        assert svc in mon.stdout
    assert "DOWN" not in mon.stdout
    assert stack_processes(base / "var"), "expected the stack's processes to be running"
    # Kafka authenticates: a client without a login gets nothing (tests/integration/security/test_kafka_auth.py
    # drives every refusal; here: the deployed broker is the authenticated one)
    from infra.health import kafka_ok
    from shared.kafka_connection import KafkaConnection
    from shared.settings import load_stack_settings

    assert "metadata request failed" in (kafka_ok(KafkaConnection(load_stack_settings(env=env).kafka_bootstrap)) or "")

    # nobody clicks anything: the bronze-writer service commits the streamed trades
    deployed = time.monotonic()
    deadline, commits = deployed + 420, []
    while time.monotonic() < deadline and not commits:
        commits = bronze_trade_commits(base, env)
        time.sleep(5)
    assert commits, "no bronze trades commit within 7 min of deploy:\n" + run("monitor.sh", env, timeout=120).stdout
    assert ticker_sources(base, env) == {"simulator"}  # the live consumer follows the same raw topics
    # every bronze check has a result within 5 minutes of deploy (evaluated by the writer, reported runless)
    expected, status = bronze_checks_expected(), {}
    while time.monotonic() < deployed + 300:
        status = bronze_check_status(env)
        if expected <= set(status) and NEVER_EXECUTED not in status.values():
            break
        time.sleep(10)
    assert not_passing(status, expected) == {}, f"bronze checks not green 5 min after deploy: {status}"

    # with every service up and the bronze-writer's Spark JVM running: no secret where it does not belong
    assert_secrets_where_they_belong(base)

    # rotation: new secrets everywhere, old ones refused, data keeps flowing, still nothing where it does not belong
    from infra.credentials import read_env_file

    before = read_env_file(base / ".env")
    rot = run("deploy.sh", env, 600, "--rotate-credentials")
    assert rot.returncode == 0, rot.stdout[-3000:] + rot.stderr[-3000:]
    assert "rotated" in rot.stdout and "all services healthy" in rot.stdout
    assert not any(v in rot.stdout + rot.stderr for v in read_env_file(base / ".env").values() if len(v) > 16)
    assert_rotation_applied(base, env, before)
    deadline, n = time.monotonic() + 420, len(bronze_trade_commits(base, env))
    while time.monotonic() < deadline and len(bronze_trade_commits(base, env)) <= n:
        time.sleep(5)
    assert len(bronze_trade_commits(base, env)) > n, "no bronze commit after rotating the credentials"
    assert_secrets_where_they_belong(base)

    stop = run("stop.sh", env, timeout=300)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    left = [(p.pid, " ".join(p.cmdline())[:100]) for p in stack_processes(base / "var") if p.is_running()]
    assert left == []
    down = run("monitor.sh", env, timeout=120)
    assert down.returncode == 1 and "DOWN" in down.stdout
