#!/usr/bin/env bash
# Stage 0 of the installer: everything that must exist before Python code of the project can run.
# Creates .cache/bootstrap (a tiny venv holding the pinned uv), then the project venv (.venv) from
# uv.lock, then hands over to `python -m infra.install` for Kafka, MinIO, PostgreSQL and Spark jars.
# Idempotent: a warm re-run checks and exits in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CDP_CACHE_DIR:-$ROOT/.cache}"
cd "$ROOT"

say()  { printf '\033[1;34m[install]\033[0m %s\n' "$*"; }
die()  { printf '\033[1;31m[install] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

PY="${CDP_PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2]==(3,11) else 1)' 2>/dev/null; then
      PY="$(command -v "$c")"; break
    fi
  done
fi
[ -n "$PY" ] || die "Python 3.11 not found. Install it (Debian: apt-get install python3.11 python3.11-venv) or set CDP_PYTHON=/path/to/python3.11, then re-run."
# the interpreter itself, not a launcher (pyenv shim, symlink): uv compares this path with the one .venv was
# made from and, when they differ, rebuilds .venv from scratch, pulling files from under a running stack
PY="$("$PY" -c 'import sys; print(sys.executable)')" || die "could not run $PY"

UV_VERSION="$(sed -n '/^\[uv\]/,/^\[/{s/^version *= *"\([^"]*\)".*/\1/p}' infra/versions.toml)"
[ -n "$UV_VERSION" ] || die "could not read [uv] version from infra/versions.toml"

mkdir -p "$CACHE" || die "cannot create cache folder $CACHE"
avail_kb="$(df -Pk "$CACHE" | awk 'NR==2{print $4}')"
if [ "${avail_kb:-0}" -lt 3000000 ]; then
  die "only $((avail_kb/1024)) MiB free on the disk holding $CACHE; the install needs ~3 GiB. Free space (or point CDP_CACHE_DIR elsewhere) and re-run."
fi

BOOT="$CACHE/bootstrap"
UV="$BOOT/bin/uv"
if ! { [ -x "$UV" ] && [ "$("$UV" --version 2>/dev/null | awk '{print $2}')" = "$UV_VERSION" ]; }; then
  say "bootstrapping uv $UV_VERSION into $BOOT"
  rm -rf "$BOOT"
  "$PY" -m venv "$BOOT" || die "python -m venv failed (Debian: apt-get install python3.11-venv), then re-run."
  "$BOOT/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION" \
    || { rm -rf "$BOOT"; die "could not install uv==$UV_VERSION from PyPI (is the package index reachable?)"; }
fi

export UV_CACHE_DIR="$CACHE/uv"
export UV_PYTHON_DOWNLOADS=never
say "syncing the project virtualenv (.venv) from uv.lock"
"$UV" sync --frozen --python "$PY" --quiet \
  || die "uv sync failed. If uv.lock is out of date run: $UV lock ; if the cache is corrupt: rm -rf $CACHE/uv .venv ; then re-run."

exec "$ROOT/.venv/bin/python" -m infra.install "$@"
