"""Checks that turn an obscure failure later into a clear message now: missing tools, taken ports,
a full disk. Every message names the problem and the fix."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path


class PreflightError(RuntimeError):
    """A precondition is not met; the message says which and how to fix it."""


def _need(tool: str, fix: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise PreflightError(f"`{tool}` not found on PATH. Fix: {fix}, then re-run.")
    return path


def require_javac() -> str:
    return _need("javac", "install a JDK (Debian: apt-get install openjdk-17-jdk-headless); a JRE has no javac")


def require_java(min_major: int) -> None:
    java = _need("java", f"install a JDK >= {min_major} (Debian: apt-get install openjdk-{min_major}-jdk-headless)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)', out)
    if not m or int(m.group(1)) < min_major:
        raise PreflightError(f"java at {java} is too old ({out.splitlines()[0] if out else '?'}); "
                             f"Kafka 4 and Spark need >= {min_major}. Fix: install openjdk-{min_major} and put it first on PATH.")


def require_maven() -> None:
    _need("mvn", "install Maven (Debian: apt-get install maven)")


def require_go() -> None:
    _need("go", "install Go >= 1.24 (https://go.dev/dl or Debian backports golang-1.24)")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def require_free_ports(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    taken = [f"{name} port {port}" for name, port in ports.items() if port_in_use(port, host)]
    if taken:
        raise PreflightError(
            f"{', '.join(taken)} already in use on {host}. Fix: stop whatever listens there "
            "(`ss -ltnp | grep PORT` shows it) or change the port in config/stack.yaml (or its env override), then re-run.")


def require_disk(path: Path, min_free_mb: int, what: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(path).free // (1024 * 1024)
    if free_mb < min_free_mb:
        raise PreflightError(f"only {free_mb} MiB free at {path}; {what} needs at least {min_free_mb} MiB. "
                             "Fix: free disk space (./cleanup.sh --yes removes stack data), then re-run.")


def check_bind_host(host: str, expose: bool) -> str | None:
    """Services bind to loopback unless the operator explicitly says otherwise (``--expose``): a non-loopback
    bind host puts Kafka (no authentication), the simulator and Dagster's webserver (which can launch runs) in
    reach of the network. Returns the warning to print when exposing; raises when not allowed."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    if not expose:
        raise PreflightError(f"config/stack.yaml / STACK_BIND_HOST: bind_host = {host!r} is not a loopback address. "
                             "Every service would accept connections from the network, and Kafka, the simulator's "
                             "control API and Dagster's webserver (which can launch runs) have no network "
                             "authentication. Fix: use 127.0.0.1, or run ./deploy.sh --expose if you really mean it "
                             "(read docs/security.md first).")
    return (f"WARNING: --expose: services bind to {host}, reachable from the network. Kafka has no authentication "
            "and Dagster's webserver can launch runs; firewall the ports (docs/security.md).")
