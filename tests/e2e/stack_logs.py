"""A failed e2e test keeps its stack's logs (var/test-artifacts/e2e/<module>/) and prints where they are, with
the last lines of each: the isolated stack's directory is removed afterwards."""
import shutil
from pathlib import Path

import pytest

from infra.layout import Layout

TAIL_LINES = 12


def keep_logs_of_failure(request: pytest.FixtureRequest, var: Path) -> None:
    if not getattr(request.node, "e2e_failed", False) or not (var / "log").is_dir():
        return
    dest = Layout().var / "test-artifacts" / "e2e" / Path(request.node.name).stem
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(var / "log", dest)
    out = request.config.pluginmanager.get_plugin("terminalreporter")
    out.write_line(f"\ne2e stack logs kept in {dest}")
    for log in sorted(dest.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-TAIL_LINES:]
        out.write_line(f"--- {log.name} (last {len(lines)} lines)")
        for line in lines:
            out.write_line("  " + line[:300])
