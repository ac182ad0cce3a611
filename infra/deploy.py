"""./deploy.sh: bring the whole native stack up under supervisord and wait until every service is
healthy. Safe to re-run on a running stack (it applies config changes and starts what is stopped)."""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from infra.credentials import ensure_credentials
from infra.layout import Layout
from infra.preflight import PreflightError, port_in_use, require_disk
from infra.provision import provision
from infra.services import ServiceSpec, build_specs
from infra.supervisor import Supervisor, conf_path, log_path, render_conf, secret_env
from shared.settings import SettingsError, load_stack_settings


def say(msg: str) -> None:
    print(f"\033[1;32m[deploy]\033[0m {msg}", flush=True)


def tail(path: Path, n: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return f"(no log yet at {path})"


class DeployError(RuntimeError):
    pass


def wait_healthy(spec: ServiceSpec, layout: Layout, sup: Supervisor, timeout: float) -> float:
    t0 = time.monotonic()
    reason = "not checked yet"
    while time.monotonic() - t0 < timeout:
        state = sup.rpc.getProcessInfo(spec.name)["statename"]
        if state in ("FATAL", "EXITED", "STOPPED"):
            reason = f"process is {state}"
            break
        # RUNNING means it outlived startsecs; the health check alone could be answered by stale state
        # (e.g. daemon heartbeats a previous run left in PostgreSQL)
        reason = spec.health() if state == "RUNNING" else f"process is {state}"
        if reason is None:
            return time.monotonic() - t0
        time.sleep(0.5)
    log = log_path(layout, spec.name)
    raise DeployError(f"service '{spec.name}' is not healthy after {time.monotonic() - t0:.0f}s: {reason}\n"
                      f"log file: {log}\n--- last lines ---\n{tail(log)}\n---")


def check_ports(specs: list[ServiceSpec], sup_running: bool, sup: Supervisor | None) -> None:
    ours = set()
    if sup_running and sup is not None:
        ours = {n for n, p in sup.info().items() if p["statename"] in ("RUNNING", "STARTING", "BACKOFF")}
    taken = [f"{s.name} port {s.port}" for s in specs if s.port and s.name not in ours and port_in_use(s.port)]
    if taken:
        raise PreflightError(f"{', '.join(taken)} already in use by another program. Fix: stop it "
                             "(`ss -ltnp | grep :PORT` names it) or change the port in config/stack.yaml, then re-run.")


def deploy_docker() -> int:
    if not shutil.which("docker") or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        print("[deploy] --docker needs a running Docker engine; none answers here. Run ./deploy.sh without --docker "
              "for the native stack.", file=sys.stderr)
        return 1
    return subprocess.call(["docker", "compose", "up", "-d", "--wait"])


def deploy(layout: Layout, timeout: float) -> None:
    t_start = time.monotonic()
    settings = load_stack_settings()
    creds, created = ensure_credentials(layout.env_file)
    if created:
        say(f"generated credentials into {layout.env_file} (mode 600, git-ignored)")
    require_disk(layout.var, 1024, "the stack's data")
    specs = build_specs(layout, settings, creds)
    sup = Supervisor(layout)
    running = sup.running()
    check_ports(specs, running, sup)

    for s in specs:
        if s.prepare:
            s.prepare()
    layout.etc.mkdir(parents=True, exist_ok=True)
    conf = conf_path(layout)
    conf.write_text(render_conf(layout, specs))
    conf.chmod(0o600)
    if running:
        say("supervisord already running: applying config changes")
        sup.update()
    else:
        say("starting supervisord")
        sup.start_daemon(secret_env(specs))

    for prio in sorted({s.priority for s in specs}):
        phase = [s for s in specs if s.priority == prio]
        for s in phase:
            sup.start(s.name)
        for s in phase:
            took = wait_healthy(s, layout, sup, timeout)
            extra = provision(s.name, settings, creds)
            say(f"{s.name:<18} healthy [{took:.1f}s]" + (f" - {extra}" if extra else ""))
    say(f"all services healthy in {time.monotonic() - t_start:.1f}s")
    h = settings.bind_host
    print(f"""
  Dashboard         http://{h}:{settings.dashboard.port}   (API schema: /openapi.json)
  Dagster UI        http://{h}:{settings.dagster.port}
  MinIO console     http://{h}:{settings.minio.console_port}   (user/password in .env)
  MinIO S3 API      http://{h}:{settings.minio.port}            bucket: {settings.minio.bucket}
  Kafka bootstrap   {settings.kafka_bootstrap}
  PostgreSQL        {h}:{settings.postgres.port}   databases: {settings.postgres.dagster_db}, {settings.postgres.serving_db}
  Simulator         https://{h}:{settings.simulator.port}/api/v3/ping   wss://{h}:{settings.simulator.port}/ws
                    (TLS; trust it with SSL_CERT_FILE={layout.etc / "tls" / "ca.pem"})
  Logs              {layout.logs}/

  Next: ./monitor.sh (status)   ./stop.sh (stop)   ./cleanup.sh (delete data)   ./test.sh (tests)
""")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="deploy.sh", description="Start the full stack (native by default).")
    ap.add_argument("--docker", action="store_true", help="use docker-compose.yml (needs a Docker engine)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds to wait for each service (default 180)")
    args = ap.parse_args(argv)
    if args.docker:
        return deploy_docker()
    try:
        deploy(Layout(), args.timeout)
    except (DeployError, PreflightError, SettingsError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"\033[1;31m[deploy] ERROR:\033[0m {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
