"""DAGSTER_HOME for the stack: the instance config (config/dagster/*.yaml) copied in, so the checked-in
files stay the single source and DAGSTER_HOME holds only state."""
from __future__ import annotations

import shutil
from pathlib import Path


def write_dagster_home(home: Path, root: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    for name in ("dagster.yaml", "workspace.yaml"):
        src = root / "config" / "dagster" / name
        dst = home / name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)
