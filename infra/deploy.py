"""./deploy.sh: bring the whole native stack up under supervisord and wait until every service is
healthy. Safe to re-run on a running stack (it applies config changes and starts what is stopped)."""
from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from infra.credentials import ensure_credentials
from infra.layout import Layout
from infra.preflight import PreflightError, check_bind_host, port_in_use, require_disk
from infra.private_files import STRICT_UMASK, private_dir, tighten
from infra.provision import provision
from infra.services import ServiceSpec, build_specs
from infra.supervisor import Supervisor, log_path, write_conf
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


def lock_down_var(layout: Layout) -> None:
    """var/ and its first two levels of folders owner-only (an older deploy made them with the default umask, so
    data and logs were world-readable); when root runs the stack, PostgreSQL runs as its own OS user and keeps
    o+x (traverse, not list) on the folders above its own."""
    private_dir(layout.var)
    traverse = {layout.var, layout.var / "data", layout.run} if os.geteuid() == 0 else set()
    folders = [layout.var, *(d for d in layout.var.iterdir() if d.is_dir())]
    if (layout.var / "data").is_dir():
        folders += [d for d in (layout.var / "data").iterdir() if d.is_dir()]
    for d in folders:
        want = 0o711 if d in traverse else 0o700
        if stat.S_IMODE(d.stat().st_mode) & 0o077 & ~want:
            os.chmod(d, want)


def prepare_credentials(layout: Layout):
    """Tighten a loose .env, then load it, generating what is missing (first deploy, or after an upgrade)."""
    if layout.env_file.exists() and tighten(layout.env_file):
        say(f"{layout.env_file} was readable by other users: its mode is now 600. If others may have read it, "
            "run ./deploy.sh --rotate-credentials")
    creds, created = ensure_credentials(layout.env_file)
    if created:
        say(f"generated credentials into {layout.env_file} (mode 600, git-ignored)")
    return creds


def deploy_docker(layout: Layout) -> int:
    # the same generated .env as the native stack: compose refuses to start with any credential missing
    prepare_credentials(layout)
    if not shutil.which("docker") or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        print("[deploy] --docker needs a running Docker engine; none answers here. Run ./deploy.sh without --docker "
              "for the native stack.", file=sys.stderr)
        return 1
    return subprocess.call(["docker", "compose", "--env-file", str(layout.env_file), "up", "-d", "--wait"])


def deploy(layout: Layout, timeout: float, expose: bool = False) -> None:
    t_start = time.monotonic()
    settings = load_stack_settings()
    warning = check_bind_host(settings.bind_host, expose)
    if warning:
        print(f"\033[1;33m[deploy] {warning}\033[0m", flush=True)
    creds = prepare_credentials(layout)
    lock_down_var(layout)
    require_disk(layout.var, 1024, "the stack's data")
    specs = build_specs(layout, settings, creds)
    sup = Supervisor(layout)
    running = sup.running()
    check_ports(specs, running, sup)

    for s in specs:
        if s.prepare:
            s.prepare()
    write_conf(layout, specs)
    if running:
        say("supervisord already running: applying config changes")
        sup.update()
    else:
        say("starting supervisord")
        sup.start_daemon()

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
  Kafka bootstrap   {settings.kafka_bootstrap}   (SASL login: users and passwords in .env, see docs/security.md)
  PostgreSQL        {h}:{settings.postgres.port}   databases: {settings.postgres.dagster_db}, {settings.postgres.serving_db}
  Simulator         https://{h}:{settings.simulator.port}/api/v3/ping   wss://{h}:{settings.simulator.port}/ws
                    (TLS; trust it with SSL_CERT_FILE={layout.etc / "tls" / "ca.pem"})
  Logs              {layout.logs}/

  Next: ./monitor.sh (status)   ./stop.sh (stop)   ./cleanup.sh (delete data)   ./test.sh (tests)
""")


def rotate(layout: Layout) -> None:
    from infra.rotate import rotate_credentials

    if not Supervisor(layout).running():
        raise DeployError("--rotate-credentials changes the passwords inside the running services: start the stack "
                          "with ./deploy.sh first (or, with the stack stopped and its data deleted by ./cleanup.sh, "
                          "delete .env: the next deploy generates new credentials)")
    names = rotate_credentials(layout.env_file, load_stack_settings())
    say(f"rotated {', '.join(names)} in {layout.env_file}; applying them to the services")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="deploy.sh", description="Start the full stack (native by default).")
    ap.add_argument("--docker", action="store_true", help="use docker-compose.yml (needs a Docker engine)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds to wait for each service (default 180)")
    ap.add_argument("--rotate-credentials", action="store_true",
                    help="new passwords and tokens for the running stack, applied to every service (docs/security.md)")
    ap.add_argument("--expose", action="store_true",
                    help="allow a non-loopback bind_host (services reachable from the network; see docs/security.md)")
    args = ap.parse_args(argv)
    os.umask(STRICT_UMASK)  # data, logs, sockets and rendered configs: owner only, from their first byte
    if args.docker:
        return deploy_docker(Layout())
    try:
        if args.rotate_credentials:
            rotate(Layout())
        deploy(Layout(), args.timeout, expose=args.expose)
    except (DeployError, PreflightError, SettingsError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"\033[1;31m[deploy] ERROR:\033[0m {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
