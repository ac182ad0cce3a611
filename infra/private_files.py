"""Files and folders that hold secrets or private state are created with their final mode from the first
byte (no window in which another local user can open them), and loose modes found later are tightened."""
from __future__ import annotations

import os
import stat
from pathlib import Path

# applied to the deploy process and everything it starts: var/ (data, logs, sockets) is not world-readable
STRICT_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """mkdir -p with mode 0700 for every folder it creates (not only the last; a umask can only remove bits)."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` by a 0600 file holding ``text``: written to a temporary name created 0600, then
    renamed over it, so the old content is never mixed with the new and no reader sees a half file."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def tighten(path: Path, mode: int = 0o600) -> bool:
    """Remove group/other permissions from an existing file or folder; True if it had any."""
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, mode)
        return True
    return False
