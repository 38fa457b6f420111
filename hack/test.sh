#!/usr/bin/env bash
# Run every check: lint, types, import contracts, then all tests (unit,
# integration against real Kubernetes components, e2e on the local cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest -n 2 --dist loadgroup "$@"
