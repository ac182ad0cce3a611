"""Debian packages the stack or its tests need, apt-get installed when missing (as root, or with sudo -n)."""
from __future__ import annotations

import os
import shutil
import subprocess

from infra.preflight import PreflightError


def missing_packages(packages: list[str]) -> list[str]:
    """The packages dpkg does not list as installed."""
    missing = []
    for pkg in packages:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
        if r.returncode != 0 or "install ok installed" not in r.stdout:
            missing.append(pkg)
    return missing


def apt_install(packages: list[str], why: str) -> None:
    if not shutil.which("apt-get"):
        raise PreflightError(f"{why} needs the Debian packages {', '.join(packages)} and apt-get is unavailable. "
                             "Fix: install them with your package manager, then re-run.")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]):
        r = subprocess.run(sudo + cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise PreflightError(f"`{' '.join(cmd)}` failed:\n{r.stderr[-1500:]}\n"
                                 "Fix: run it yourself as root (sudo) and re-run.")
