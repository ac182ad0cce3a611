"""PostgreSQL server binaries: use the Debian package's when present, apt-get install it when not.

The project never uses or alters a system cluster: it runs its own cluster (own data dir, own port)
with these binaries, see infra/services.py."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from infra.preflight import PreflightError


def find_postgres_bindir(major: int) -> Path | None:
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin")] + sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for d in candidates:
        if (d / "postgres").exists() and (d / "initdb").exists():
            return d
    found = shutil.which("postgres")
    return Path(found).parent if found and shutil.which("initdb") else None


def install_postgres(major: int) -> None:
    if not shutil.which("apt-get"):
        raise PreflightError(f"PostgreSQL {major} server not found and apt-get is unavailable. "
                             f"Fix: install the PostgreSQL {major} server with your package manager, then re-run.")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", f"postgresql-{major}"]):
        r = subprocess.run(sudo + cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise PreflightError(f"`{' '.join(cmd)}` failed:\n{r.stderr[-1500:]}\n"
                                 "Fix: run it yourself as root (sudo) and re-run.")
    # The Debian package creates and starts a system cluster; we leave it alone and use our own.
    if not find_postgres_bindir(major):
        raise PreflightError(f"postgresql-{major} installed but no server binaries found under /usr/lib/postgresql")
