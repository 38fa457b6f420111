#!/usr/bin/env bash
# The conformance suite's LoadBalancer ids for the gce and aws providers with
# real traffic (issue 13): for each cloud, a fresh local cluster (a Node's
# providerID is set once), the cloud box (tests/cloudbox: the cloud's fake
# API, its network in the router namespace, lbctl with that provider) and the
# suite run from the client network against lbctl's class for that cloud.
# Leaves reports/<cloud>/ and, with the local run's reports/local/,
# reports/providers.md: one column per provider. LBCTL_CLOUDS="gce" runs one.
set -euo pipefail
cd "$(dirname "$0")/.."

box=""
stop_box() { if [[ -n $box ]]; then kill "$box" 2>/dev/null || true; wait "$box" || true; box=""; fi; }
trap 'stop_box; .venv/bin/localcluster down >/dev/null' EXIT

read -r -a clouds <<<"${LBCTL_CLOUDS:-gce aws}"
for cloud in "${clouds[@]}"; do
  echo "== $cloud: a fresh local cluster"
  .venv/bin/localcluster down >/dev/null
  .venv/bin/localcluster up >/dev/null
  kubeconfig=$(.venv/bin/localcluster status --kubeconfig)
  mkdir -p "reports/$cloud"
  out=reports/$cloud/box.out
  .venv/bin/python -m tests.cloudbox "$cloud" --log "reports/$cloud/lbctl.log" >"$out" 2>&1 &
  box=$!
  for _ in $(seq 120); do
    grep -q '^ready ' "$out" && break
    kill -0 "$box" 2>/dev/null || { cat "$out"; exit 1; }
    sleep 0.5
  done
  grep -q '^ready ' "$out" || { echo "cloudbox $cloud: not ready in 60 s"; cat "$out"; exit 1; }
  lb_class=$(sed -n 's/^ready //p' "$out")
  extra=()
  [[ $cloud == gce ]] && extra+=(--conformance-lb-ip "$(.venv/bin/python -c 'from tests.cloudbox.gce import STATIC_IP; print(STATIC_IP)')")
  echo "== $cloud: the suite's LoadBalancer ids, from the client network, class $lb_class"
  nsenter --net=/run/netns/lbctl-client -- .venv/bin/pytest -p no:xdist conformance/test_loadbalancer.py \
    --conformance-kubeconfig "$kubeconfig" --conformance-lb-class "$lb_class" \
    --conformance-report-dir "reports/$cloud" "${extra[@]}" "$@"
  stop_box
done

runs=()
for name in local gce aws; do
  [[ -f reports/$name/conformance.xml ]] && runs+=("$name=reports/$name")
done
.venv/bin/python -m conformance.columns "${runs[@]}" --out reports/providers.md
cat reports/providers.md
