"""The stack's services as data: command line, environment, port, health check, one-time preparation.

deploy.sh renders these into supervisord programs; test fixtures start the same specs as plain child
processes on free ports in a temporary folder. One definition, so tests run what users run.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infra import health
from infra.credentials import Credentials
from infra.kafka_config import (ADMIN_MECHANISM, ADMIN_USER, PIPELINE_USER, STREAMING_USER, format_storage, java_cmd,
                                scram_users, server_properties)
from infra.layout import Layout
from infra.postgres_install import find_postgres_bindir
from infra.private_files import write_private
from shared.kafka_connection import KafkaConnection
from shared.settings import StackSettings
from shared.symbols import simulated_symbols


@dataclass
class ServiceSpec:
    name: str
    argv: list[str]
    port: int
    health: Callable[[], str | None]
    priority: int                      # supervisord: lower starts first and stops last
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None            # run as this OS user (PostgreSQL refuses to run as root)
    prepare: Callable[[], None] | None = None   # idempotent one-time setup before first start
    stopsignal: str = "TERM"
    stopwaitsecs: int = 30
    startsecs: int = 3
    cwd: Path | None = None            # working directory (default: the repo root)
    # the stop signal goes to the whole process group; False: to the program only, which ends its children
    # itself (a PySpark driver: a SIGTERMed Spark JVM would fail the commit the program is finishing)
    stopasgroup: bool = True


def _postgres_user() -> str | None:
    """PostgreSQL will not run as root; when we are root, run it as the Debian package's user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
        return "postgres"
    except KeyError:
        raise RuntimeError("running as root but no 'postgres' OS user exists; create one "
                           "(useradd --system postgres) or run the stack as a normal user") from None


def _chown(path: Path, user: str | None) -> None:
    if user:
        shutil.chown(path, user, user)


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *cmd] if user else cmd


def dagster_home(layout: Layout) -> Path:
    return layout.data("dagster")


# what only runs need (asset code): the webserver enqueues runs and never executes them, so it goes without
PIPELINE_SECRET_ENV = ("S3_SECRET_KEY", "SERVING_WRITER_PASSWORD", "KAFKA_SASL_PASSWORD")


def kafka_connection(settings: StackSettings, creds: Credentials, user: str) -> KafkaConnection:
    """How ``user`` (infra/kafka_config.py: admin, streaming, pipeline) connects to the stack's Kafka; PLAINTEXT
    when the broker runs without SASL (a test fixture's)."""
    if not settings.kafka.sasl:
        return KafkaConnection(settings.kafka_bootstrap)
    if user == ADMIN_USER:
        return KafkaConnection(settings.kafka_bootstrap, username=user, password=creds.kafka_admin_password,
                               mechanism=ADMIN_MECHANISM)
    return KafkaConnection(settings.kafka_bootstrap, username=user, password=scram_users(creds)[user])


def dagster_env(settings: StackSettings, creds: Credentials, layout: Layout) -> dict[str, str]:
    """Environment the Dagster processes (and asset code) read their connections from: Dagster's own storage
    role and the pipeline's S3 user (lakehouse bucket only), never the superuser or MinIO's root."""
    return {
        "DAGSTER_HOME": str(dagster_home(layout)),
        "DAGSTER_PG_HOST": settings.bind_host, "DAGSTER_PG_PORT": str(settings.postgres.port),
        "DAGSTER_PG_DB": settings.postgres.dagster_db,
        "DAGSTER_PG_USERNAME": creds.dagster_pg_user, "DAGSTER_PG_PASSWORD": creds.dagster_pg_password,
        **kafka_connection(settings, creds, PIPELINE_USER).as_env(),  # reads the raw topics, never writes them
        "S3_ENDPOINT": settings.s3_endpoint, "MINIO_BUCKET": settings.minio.bucket,
        "S3_ACCESS_KEY": creds.pipeline_s3_user, "S3_SECRET_KEY": creds.pipeline_s3_password,
        **serving_env(settings, creds, "pipeline_writer"),
        "CDP_CACHE_DIR": str(layout.cache), "CDP_VAR_DIR": str(layout.var),
    }


def serving_env(settings: StackSettings, creds: Credentials, role: str) -> dict[str, str]:
    """Connection of one serving role (serving/db.py): only that role's password variable is included."""
    pw = {"pipeline_writer": ("SERVING_WRITER_PASSWORD", creds.serving_writer_password),
          "reader": ("SERVING_READER_PASSWORD", creds.serving_reader_password)}[role]
    return {"SERVING_PG_HOST": settings.bind_host, "SERVING_PG_PORT": str(settings.postgres.port),
            "SERVING_PG_DB": settings.postgres.serving_db, pw[0]: pw[1]}


def sim_tls_dir(layout: Layout) -> Path:
    """The simulator's CA and server certificate (clients trust ``ca.pem`` in it)."""
    return layout.etc / "tls"


def build_specs(layout: Layout, settings: StackSettings, creds: Credentials) -> list[ServiceSpec]:
    host = settings.bind_host
    py = str(layout.root / ".venv" / "bin")
    pg_user = _postgres_user()

    # ---- Kafka ---------------------------------------------------------------------------
    kafka_data = layout.data("kafka")
    kafka_props = layout.etc / "kafka-server.properties"
    sasl = settings.kafka.sasl
    props = server_properties(kafka_data, host, settings.kafka.port, settings.kafka.controller_port,
                              creds if sasl else None)

    def prepare_kafka() -> None:
        write_private(kafka_props, props)  # 0600: it holds the listeners' JAAS secrets
        format_storage(layout, kafka_props, kafka_data, creds.kafka_cluster_id)  # SCRAM users: provisioning

    admin = kafka_connection(settings, creds, ADMIN_USER)
    kafka = ServiceSpec(
        name="kafka", port=settings.kafka.port, priority=10, prepare=prepare_kafka, stopwaitsecs=60,
        argv=java_cmd(layout, "kafka.Kafka", settings.kafka.heap, str(kafka_props)), startsecs=5,
        # a changed server.properties (rotated secrets, other ports) changes the program's config, so
        # ./deploy.sh restarts the broker with it; a digest, not the secrets
        env={"KAFKA_CONFIG_SHA256": hashlib.sha256(props.encode()).hexdigest()[:16]},
        health=lambda: health.kafka_ok(admin),
    )

    # ---- MinIO ---------------------------------------------------------------------------
    minio_data = layout.data("minio")
    minio = ServiceSpec(
        name="minio", port=settings.minio.port, priority=10,
        prepare=lambda: minio_data.mkdir(parents=True, exist_ok=True),
        argv=[str(layout.minio_bin), "server", str(minio_data), "--quiet", "--address", f"{host}:{settings.minio.port}",
              "--console-address", f"{host}:{settings.minio.console_port}"],
        env={"MINIO_ROOT_USER": creds.minio_user, "MINIO_ROOT_PASSWORD": creds.minio_password,
             "MINIO_BROWSER_REDIRECT": "off", "MINIO_UPDATE": "off"},
        health=lambda: health.minio_ok(settings.s3_endpoint),
    )

    # ---- PostgreSQL (the project's own cluster) --------------------------------------------
    pg_data = layout.data("postgres")
    pg_sock = layout.run / "postgres"
    bindir = find_postgres_bindir(layout.versions["postgres"]["major"])

    def prepare_pg() -> None:
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found; run ./deploy.sh (it installs them) first")
        pg_sock.mkdir(parents=True, exist_ok=True)
        _chown(pg_sock, pg_user)
        pg_data.parent.mkdir(parents=True, exist_ok=True)
        if pg_user:  # as root, PostgreSQL runs as its own OS user: it must traverse (not list) var/ to its folders
            for d in (layout.var, pg_data.parent, pg_sock.parent):
                os.chmod(d, (os.stat(d).st_mode & 0o7777) | 0o011)
        if (pg_data / "PG_VERSION").exists():
            return
        pg_data.mkdir(parents=True, exist_ok=True)
        _chown(pg_data, pg_user)
        os.chmod(pg_data, 0o700)
        pwfile = pg_sock / ".initpw"
        write_private(pwfile, creds.postgres_password + "\n")  # 0600 before the first byte
        _chown(pwfile, pg_user)
        try:
            r = subprocess.run(_as_user([str(bindir / "initdb"), "-D", str(pg_data), "-U", creds.postgres_user,
                                         f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                                         "-E", "UTF8", "--locale=C"], pg_user),
                               capture_output=True, text=True)
        finally:
            pwfile.unlink(missing_ok=True)
        if r.returncode != 0:
            shutil.rmtree(pg_data, ignore_errors=True)  # never leave a half-initialised cluster behind
            raise RuntimeError(f"initdb failed:\n{(r.stdout + r.stderr)[-2000:]}")

    postgres = ServiceSpec(
        name="postgres", port=settings.postgres.port, priority=10, user=pg_user, prepare=prepare_pg,
        argv=[str(bindir / "postgres") if bindir else "postgres", "-D", str(pg_data), "-p", str(settings.postgres.port),
              "-c", f"listen_addresses={host}", "-c", f"unix_socket_directories={pg_sock}",
              "-c", "shared_buffers=128MB", "-c", "max_connections=100"],
        stopsignal="INT",  # "fast" shutdown: roll back open transactions, then stop cleanly
        health=lambda: health.postgres_ok(host, settings.postgres.port, creds.postgres_user, creds.postgres_password),
    )

    # ---- Dagster -------------------------------------------------------------------------
    denv = dagster_env(settings, creds, layout)

    def prepare_dagster() -> None:
        from infra.dagster_config import write_dagster_home
        write_dagster_home(dagster_home(layout), layout.root)

    web_url = f"http://{host}:{settings.dagster.port}"
    webserver = ServiceSpec(
        # cwd = DAGSTER_HOME: Dagster loads a `.env` from its working directory, which must never be the
        # repo's (another stack's credentials); the code location is importable from the venv anyway
        name="dagster-webserver", port=settings.dagster.port, priority=30, prepare=prepare_dagster,
        env={k: v for k, v in denv.items() if k not in PIPELINE_SECRET_ENV},
        cwd=dagster_home(layout),
        argv=[f"{py}/dagster-webserver", "-h", host, "-p", str(settings.dagster.port),
              "-w", str(dagster_home(layout) / "workspace.yaml")],
        health=lambda: health.http_ok(f"{web_url}/server_info"), startsecs=5,
    )
    daemon = ServiceSpec(
        name="dagster-daemon", port=0, priority=40, env=denv, prepare=prepare_dagster, cwd=dagster_home(layout),
        argv=[f"{py}/dagster-daemon", "run", "-w", str(dagster_home(layout) / "workspace.yaml")],
        health=lambda: health.dagster_daemon_ok(web_url), startsecs=5,
    )
    specs = [kafka, minio, postgres, webserver, daemon]

    # ---- Exchange simulator (when present) --------------------------------------------------
    # TLS like the real exchange (wss:// + https://): a local CA + server certificate made once under var/etc/tls
    # (binance_sim/tls.py); clients trust var/etc/tls/ca.pem (SSL_CERT_FILE / SIMULATOR_CA_FILE)
    tls = sim_tls_dir(layout)
    sim_rest = f"https://{host}:{settings.simulator.port}"
    if (layout.root / "binance_sim" / "__main__.py").exists():
        def prepare_sim() -> None:
            from binance_sim.tls import ensure_certificates
            ensure_certificates(tls)

        specs.append(ServiceSpec(
            name="simulator", port=settings.simulator.port, priority=20, prepare=prepare_sim,
            argv=[f"{py}/python", "-m", "binance_sim", "--host", host, "--port", str(settings.simulator.port),
                  "--symbols", ",".join(simulated_symbols()), "--rate", f"{settings.simulator.rate:g}", "--id-base", "clock",
                  "--tls-cert", str(tls / "server.pem"), "--tls-key", str(tls / "server-key.pem")],
            env={"SIMULATOR_CONTROL_TOKEN": creds.simulator_token},  # /_sim needs it (fault injection, shutdown)
            health=lambda: health.http_ok(f"{sim_rest}/api/v3/ping", ca_file=tls / "ca.pem"),
        ))
    # ---- Streaming ingest (exchange -> Kafka) -------------------------------------------------
    # source "auto": Binance when reachable, else the simulator above (said in its log and /status)
    metrics = f"http://{host}:{settings.streaming.metrics_port}"
    symbols_file = layout.root / "config" / "symbols.yaml"
    specs.append(ServiceSpec(
        name="streaming", port=settings.streaming.metrics_port, priority=25,
        argv=[f"{py}/python", "-m", "streaming", "--config", str(layout.root / "config" / "streaming.yaml"),
              "--symbols", str(layout.root / "config" / "symbols.yaml")],
        env={**kafka_connection(settings, creds, STREAMING_USER).as_env(), "STREAMING_METRICS_HOST": host,
             "STREAMING_METRICS_PORT": str(settings.streaming.metrics_port),
             "SIMULATOR_WS_URL": f"wss://{host}:{settings.simulator.port}", "SIMULATOR_REST_URL": sim_rest,
             "SIMULATOR_CA_FILE": str(tls / "ca.pem"),
             "STREAMING_POSITIONS_FILE": str(layout.data("streaming") / "positions.json"),
             # a changed symbols.yaml changes this program's config, so ./deploy.sh restarts the consumer; so does
             # a changed ACTIVE_SYMBOLS (passed here: supervisord's own environment is the one it started with)
             "SYMBOLS_CONFIG_SHA256": hashlib.sha256(symbols_file.read_bytes()).hexdigest()[:16],
             "ACTIVE_SYMBOLS": os.environ.get("ACTIVE_SYMBOLS", "")},
        # process liveness; /healthz (data health: DLQ rate, delivery failures, holes) is monitor.sh's health row
        health=lambda: health.http_ok(f"{metrics}/livez"),
        stopwaitsecs=45,  # SIGTERM flushes everything to Kafka (up to 30 s when the broker is slow)
    ))
    # ---- Live latest_ticker consumer (Kafka -> serving database) -------------------------------
    ticker = f"http://{host}:{settings.serving.ticker_port}"
    specs.append(ServiceSpec(
        name="serving-ticker", port=settings.serving.ticker_port, priority=20,
        argv=[f"{py}/python", "-m", "serving.ticker_service"],
        env={**kafka_connection(settings, creds, PIPELINE_USER).as_env(), "SERVING_TICKER_HOST": host,
             "SERVING_TICKER_PORT": str(settings.serving.ticker_port), "DAGSTER_URL": web_url,
             **serving_env(settings, creds, "pipeline_writer")},
        health=lambda: health.http_ok(f"{ticker}/healthz"),
    ))
    # ---- Dashboard (read API + live page over the serving database, read-only role) ------------------
    dash = f"http://{host}:{settings.dashboard.port}"
    specs.append(ServiceSpec(
        name="dashboard", port=settings.dashboard.port, priority=35,
        argv=[f"{py}/python", "-m", "dashboard"],
        env={"DASHBOARD_HOST": host, "DASHBOARD_PORT": str(settings.dashboard.port),
             **serving_env(settings, creds, "reader"), "DASHBOARD_VENDOR_DIR": str(layout.dashboard_vendor),
             "STREAMING_STATUS_URL": f"{metrics}/status", "DAGSTER_URL": web_url},
        health=lambda: health.http_ok(f"{dash}/healthz"),
        stopwaitsecs=10,
    ))
    # ---- Bronze writer (Kafka -> bronze Hudi tables, continuously; reports to Dagster) -------------
    writer = f"http://{host}:{settings.bronze_writer.health_port}"
    specs.append(ServiceSpec(
        name="bronze-writer", port=settings.bronze_writer.health_port, priority=35,
        argv=[f"{py}/python", "-m", "crypto_pipeline.bronze.service"],
        env=bronze_writer_env(settings, creds, layout),
        health=lambda: health.http_ok(f"{writer}/healthz"), startsecs=5,
        stopwaitsecs=90,  # SIGTERM lets the current cycles commit (killing it is exactly-once too, just slower)
        stopasgroup=False,  # its Spark JVM must outlive the SIGTERM; it exits with the driver (stdin closed)
    ))
    return sorted(specs, key=lambda s: s.priority)


# Settings of the bronze-writer passed through from the environment of ./deploy.sh (a changed value
# changes the program's config, so deploy restarts the writer with it)
BRONZE_WRITER_TUNING = ("BRONZE_TOPIC_PATTERN", "BRONZE_WRITER_DRIVER_MEMORY", "BRONZE_FAST_INTERVAL_S",
                        "BRONZE_FULL_EVERY_S", "BRONZE_CLUSTER_EVERY_S", "BRONZE_CHECK_EVERY_S",
                        "BRONZE_REPORT_EVERY_S", "BRONZE_RETRY_FOR_S", "BRONZE_ACCEPT_DATA_LOSS", "BRONZE_JAVA_CLIENT",
                        "BRONZE_JVM_PARSE")


def bronze_writer_env(settings: StackSettings, creds: Credentials, layout: Layout) -> dict[str, str]:
    """What the writer reads: Kafka, S3, the PostgreSQL of the writer locks, and the webserver it reports
    to (runless events over REST: it needs no Dagster home)."""
    env = {k: v for k, v in dagster_env(settings, creds, layout).items()
           if k != "DAGSTER_HOME" and not k.startswith("SERVING_")}
    env.update({"DAGSTER_URL": f"http://{settings.bind_host}:{settings.dagster.port}",
                "BRONZE_WRITER_HOST": settings.bind_host, "BRONZE_WRITER_PORT": str(settings.bronze_writer.health_port)})
    env.update({k: os.environ[k] for k in BRONZE_WRITER_TUNING if os.environ.get(k)})
    return env


