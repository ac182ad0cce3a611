"""Which configuration names hold secrets. One rule for every place that must keep them out of a file,
a log, a command line or a child's environment (supervisord's config, the Spark JVM's environment, tests)."""
from __future__ import annotations

SECRET_MARKERS = ("PASSWORD", "SECRET", "TOKEN")


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(m in upper for m in SECRET_MARKERS)


def environ_without_secrets(environ: dict[str, str]) -> dict[str, str]:
    """A parent's environment minus anything that looks secret: what a supervisor hands every child must not
    include one service's password (or the operator's shell's) — each child gets its own secrets explicitly."""
    return {k: v for k, v in environ.items() if not is_secret_name(k)}
