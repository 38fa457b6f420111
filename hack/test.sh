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

step "workflows: actionlint"
"$(hack/go-tools.sh path actionlint)" -no-color
step "terraform: hclfmt (the layout terraform fmt enforces)"
hclfmt=$(hack/go-tools.sh path hclfmt)
unformatted=0
checked=0
while IFS= read -r -d '' file; do
  "$hclfmt" "$file" | diff -u "$file" - || unformatted=1
  checked=$((checked + 1))
done < <(find terraform \( -name '*.tf' -o -name '*.tfvars' \) -print0 | sort -z)
((unformatted == 0)) || { echo "terraform/: the files above are not formatted (terraform fmt)"; exit 1; }
echo "terraform/: $checked files, all laid out as terraform fmt does"
step "terraform: tofu fmt -check and validate"
# validate needs each configuration's providers, which `tofu init` fetches
# from the OpenTofu registry: LBCTL_TOFU_INIT=online (ci.yml on GitHub's
# runners) fetches them, LBCTL_TOFU_PLUGIN_DIR names a local provider mirror;
# otherwise (as on machines that reach no such registry) it is skipped, and
# OpenTofu is not even built (9 min on two CPUs, for nothing): hclfmt above,
# the structure tests (tests/unit/infra) and checkov check what they can.
if [[ ${LBCTL_TOFU_INIT:-} == online || -n ${LBCTL_TOFU_PLUGIN_DIR:-} ]]; then
  hack/go-tools.sh tofu
  tofu=$(hack/go-tools.sh path tofu)
  # A TF_CLI_CONFIG_FILE naming no file only makes tofu print warnings.
  [[ -z ${TF_CLI_CONFIG_FILE:-} || -e $TF_CLI_CONFIG_FILE ]] || unset TF_CLI_CONFIG_FILE
  "$tofu" fmt -check -recursive -diff terraform
  for dir in terraform/*/; do
    work=$(mktemp -d) # init writes a lock file and .terraform: not into the tree
    cp -r "$dir". "$work/"
    init=(-chdir="$work" init -backend=false -input=false -no-color)
    [[ -n ${LBCTL_TOFU_PLUGIN_DIR:-} ]] && init+=(-plugin-dir="$LBCTL_TOFU_PLUGIN_DIR")
    "$tofu" "${init[@]}" >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }
    echo "$dir: $("$tofu" -chdir="$work" validate -no-color)"
    rm -rf "$work"
  done
else
  echo "SKIPPED tofu fmt -check and validate: the providers come from the OpenTofu registry,"
  echo "which this machine cannot reach (set LBCTL_TOFU_INIT=online where it can, or"
  echo "LBCTL_TOFU_PLUGIN_DIR to a provider mirror); hclfmt, tests/unit/infra and checkov"
  echo "check what they can"
fi
step "checkov: terraform/ and .github/"
"$(hack/go-tools.sh path checkov)" --quiet --compact --skip-download \
  --framework terraform github_actions -d terraform -d .github

step "unit and integration tests"
.venv/bin/pytest -n 2 --dist loadgroup tests/unit tests/integration conformance/tests "$@"

if [[ -n ${LBCTL_SKIP_LOCAL_CLUSTER:-} ]]; then
  step "SKIPPED: e2e tests and the conformance suite on the local cluster"
  echo "LBCTL_SKIP_LOCAL_CLUSTER: $LBCTL_SKIP_LOCAL_CLUSTER"
  exit 0
fi

step "e2e tests on the local cluster"
.venv/bin/pytest -p no:xdist tests/e2e "$@"

step "the local cluster for the suite"
.venv/bin/localcluster up
trap '.venv/bin/localcluster down' EXIT

step "conformance suite on the local cluster (lbctl + nodeproxy), probes from the client network"
.venv/bin/pytest -p no:xdist conformance --ignore=conformance/tests --conformance-cluster=local \
  --conformance-report-dir reports/local "$@"

step "conformance: the same cluster as a foreign one, its runner without a route to the nodes"
# As on private GKE nodes: NodePort and externalIP probes go through
# host-network pods, and lbctl is named only by its class.
.venv/bin/pytest -p no:xdist conformance/test_nodeport.py conformance/test_externalips.py \
  --conformance-kubeconfig "$(.venv/bin/localcluster status --kubeconfig)" \
  --conformance-lb-class lbctl.io/lbctl --conformance-runner-reaches-nodes=no \
  --conformance-report-dir reports/foreign "$@"

step "conformance: the gce and aws providers with real traffic (one column each)"
# Each on a fresh cluster (a Node's providerID is set once); the last one's
# cluster goes down with the trap above. reports/providers.md: all columns.
hack/cloud-columns.sh "$@"
