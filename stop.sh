#!/usr/bin/env bash
# See README.md. Thin shell over infra/stop.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[ -x .venv/bin/python ] || { echo "[stop] no .venv yet: run ./deploy.sh first" >&2; exit 1; }
exec .venv/bin/python -m infra.stop "$@"
