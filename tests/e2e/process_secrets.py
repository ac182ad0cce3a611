"""Where the stack's secrets are visible in the process table: every process's /proc/<pid>/cmdline and
/proc/<pid>/environ (read with psutil) against the secrets in the generated .env."""
from __future__ import annotations

from pathlib import Path

import psutil

from infra.credentials import read_env_file
from infra.layout import Layout
from infra.supervisor import Supervisor
from shared.secrets import is_secret_name


def program_of(proc: psutil.Process, programs: dict[int, str]) -> str | None:
    """The supervisord program a process belongs to (it or an ancestor is the program's main process)."""
    p: psutil.Process | None = proc
    while p is not None:
        if p.pid in programs:
            return programs[p.pid]
        p = p.parent()
    return None


def secret_sightings(var: Path, env_file: Path) -> list[tuple[str, str, str | None, int, str]]:
    """(secret name, where: 'cmdline'|'environ', program or None, pid, process name) for every sighting."""
    secrets = {k: v for k, v in read_env_file(env_file).items() if is_secret_name(k) and len(v) >= 8}
    programs = {p["pid"]: name for name, p in Supervisor(Layout(var=var)).info().items() if p["pid"]}
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            cmdline = "\0".join(proc.cmdline())
            environ = "\0".join(f"{k}={v}" for k, v in proc.environ().items())
            owner = program_of(proc, programs)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        for name, value in secrets.items():
            for where, text in (("cmdline", cmdline), ("environ", environ)):
                if value in text:
                    found.append((name, where, owner, proc.pid, proc.info["name"]))
    return found
