#!/usr/bin/env bash
# The conformance suite's LoadBalancer ids for the gce and aws providers with
# real traffic (issue 13), and the faults they must catch: for each cloud, a
# local cluster none of whose Nodes has a providerID yet (the running one, as
# hack/test.sh leaves it, else a fresh one: a providerID is set once) and
# tests/cloudbox/test_columns.py (the cloud's fake API and network, lbctl with
# that provider, the suite from the client network; then lbctl broken on
# purpose, one fault at a time, and the id that must fail). Leaves
# reports/<cloud>/, reports/<cloud>-<fault>/ and, with the local run's
# reports/local/, reports/providers.md: one column per provider.
# LBCTL_CLOUDS="gce" runs one.
set -euo pipefail
cd "$(dirname "$0")/.."

trap '.venv/bin/localcluster down >/dev/null' EXIT

read -r -a clouds <<<"${LBCTL_CLOUDS:-gce aws}"
serves_no_cloud_yet() {
  .venv/bin/python -c 'import sys; from tests.cloudbox.base import serves_no_cloud_yet as ok
sys.exit(0 if ok() else 1)'
}
for cloud in "${clouds[@]}"; do
  if serves_no_cloud_yet; then
    echo "== $cloud: the running local cluster (no Node has a providerID yet)"
  else
    echo "== $cloud: a fresh local cluster"
    .venv/bin/localcluster down >/dev/null
    .venv/bin/localcluster up >/dev/null
  fi
  echo "== $cloud: the suite's LoadBalancer ids, then the faults they must catch"
  .venv/bin/pytest -p no:xdist -s tests/cloudbox --cloudbox "$cloud" "$@"
done

runs=()
for name in local gce aws; do
  [[ -f reports/$name/conformance.xml ]] && runs+=("$name=reports/$name")
done
.venv/bin/python -m conformance.columns "${runs[@]}" --out reports/providers.md
cat reports/providers.md
