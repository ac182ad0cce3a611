#!/usr/bin/env bash
# Install what the tests need (same idempotent installer as deploy.sh), then run every test:
# unit (no services), integration (real Kafka, MinIO, PostgreSQL, Spark+Hudi, Dagster started by fixtures)
# and e2e (deploy.sh -> monitor.sh -> stop.sh). Extra arguments go to pytest, e.g. ./test.sh -m unit
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
./infra/bootstrap.sh --with-test-tools
if [ "$#" -eq 0 ]; then
  set -- -m "unit or integration or e2e"
fi
exec .venv/bin/pytest "$@"
