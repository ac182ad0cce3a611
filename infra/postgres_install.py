"""PostgreSQL server binaries: use the Debian package's when present, apt-get install it when not.

The project never uses or alters a system cluster: it runs its own cluster (own data dir, own port)
with these binaries, see infra/services.py."""
from __future__ import annotations

import shutil
from pathlib import Path

from infra.apt import apt_install
from infra.preflight import PreflightError


def find_postgres_bindir(major: int) -> Path | None:
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin")] + sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for d in candidates:
        if (d / "postgres").exists() and (d / "initdb").exists():
            return d
    found = shutil.which("postgres")
    return Path(found).parent if found and shutil.which("initdb") else None


def install_postgres(major: int) -> None:
    apt_install([f"postgresql-{major}"], f"the PostgreSQL {major} server")
    # The Debian package creates and starts a system cluster; we leave it alone and use our own.
    if not find_postgres_bindir(major):
        raise PreflightError(f"postgresql-{major} installed but no server binaries found under /usr/lib/postgresql")
