#!/usr/bin/env bash
# Every check the project has, in order: lint, types, import contracts; then
# the tests that need no cluster (unit, integration against real etcd +
# kube-apiserver + kube-controller-manager, the GCE fake and moto, nodeproxy
# in network namespaces) in parallel; then the e2e tests and the conformance
# suite, each on the machine's single local multi-node cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1

step() { printf '\n== %s\n' "$*"; }

step "ruff"
.venv/bin/ruff check .
step "mypy --strict"
.venv/bin/mypy
step "import contracts"
.venv/bin/lint-imports --no-cache

step "unit and integration tests"
.venv/bin/pytest -n 2 --dist loadgroup tests/unit tests/integration conformance/tests "$@"

step "e2e tests on the local cluster"
.venv/bin/pytest -p no:xdist tests/e2e "$@"

step "conformance suite on the local cluster (lbctl + nodeproxy)"
.venv/bin/pytest -p no:xdist conformance --ignore=conformance/tests --conformance-cluster=local "$@"
