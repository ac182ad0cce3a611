#!/usr/bin/env bash
# Install (idempotent, cached under .cache/) and start the full stack. See README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ "${1:-}" != "--docker" ]; then
  ./infra/bootstrap.sh
fi
exec .venv/bin/python -m infra.deploy "$@"
