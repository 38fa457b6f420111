#!/usr/bin/env bash
# Install everything lbctl's demo and tests need on a fresh Debian machine:
# system packages (apt), the Python environment (.venv) and the pinned upstream
# Kubernetes binaries (go build, cached under ~/.cache/lbctl by version).
# Safe to run again: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iproute2 iptables nftables conntrack procps psmisc haproxy iperf3 wrk ethtool util-linux runc containernetworking-plugins busybox-static buildah debootstrap shellcheck)

need_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  echo "install: apt packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

command -v go >/dev/null || { echo "install: Go is required to build Kubernetes" >&2; exit 1; }

stamp=.venv/.installed-$(cat pyproject.toml localcluster/pyproject.toml conformance/pyproject.toml | sha256sum | cut -c1-16)
if [[ ! -f $stamp ]]; then
  echo "install: Python environment (.venv)"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  # Three distributions: the controller (lbctl, nodeproxy, lbcommon), the
  # local cluster and the conformance suite.
  .venv/bin/pip install -q -e '.[test]' -e ./localcluster -e './conformance[kind]'
  rm -f .venv/.installed-* && touch "$stamp"
fi

# The checks' own tools (actionlint, hclfmt, checkov), cached by version;
# actionlint runs Debian's shellcheck (above) on the workflows' scripts.
# checkov's venv is mostly downloads: fetch it while the Go builds use the CPUs.
# (OpenTofu is built by hack/test.sh only where `tofu validate` can run.)
hack/go-tools.sh checkov &
checkov=$!
hack/go-tools.sh actionlint hclfmt

# Build (or find cached) the upstream binaries the tests and demo use (and kubectl).
.venv/bin/python -m localcluster.build all
# Build (or find cached) the images the local cluster imports: lbctl and
# nodeproxy from the root Dockerfile, upstream's agnhost rebuilt on Debian.
.venv/bin/python -m localcluster.imagebuild lbctl nodeproxy agnhost
wait "$checkov"
