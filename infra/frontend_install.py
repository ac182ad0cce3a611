"""The dashboard's front-end library from the npm registry, copied into the installer cache.

Only the files the page loads (the standalone bundle) and the ones its license asks to keep (LICENSE,
README with the attribution terms) are kept, with a manifest like every other component; npm's own cache lives under .cache too."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from infra.preflight import PreflightError

PACKAGE = "lightweight-charts"
# the package ships no NOTICE file; its README states the attribution the page must show
KEEP = ("dist/lightweight-charts.standalone.production.js", "LICENSE", "README.md", "package.json")


def npm_fetch(cache: Path, version: str, dest: Path, log: Path) -> None:
    """`npm install` the pinned package into a scratch folder and copy KEEP into dest."""
    npm = shutil.which("npm")
    if not npm:
        raise PreflightError("`npm` not found on PATH. Fix: install Node.js with npm (Debian: apt-get install npm), "
                             "then re-run.")
    work = dest.parent / (dest.name + ".npm")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "package.json").write_text(json.dumps({"name": "cdp-dashboard-vendor", "private": True}))
    cmd = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact",
           f"--cache={cache / 'npm-cache'}", f"{PACKAGE}@{version}"]
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, cwd=work, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise PreflightError(f"npm could not install {PACKAGE}@{version} (log: {log}):\n{tail}\n"
                             "Fix: check that the npm registry is reachable, then re-run.")
    pkg = work / "node_modules" / PACKAGE
    for rel in KEEP:
        src = pkg / rel
        if not src.exists():
            raise PreflightError(f"{PACKAGE}@{version} has no {rel}; the pin in infra/versions.toml may be wrong")
        shutil.copy2(src, dest / Path(rel).name)
    shutil.rmtree(work, ignore_errors=True)
