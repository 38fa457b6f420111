#!/usr/bin/env bash
# The tools the checks run (hack/test.sh), each installed once per version
# and cached under ~/.cache/lbctl/tools/<name>-<version>/:
#
#   actionlint  lints .github/workflows (github.com/rhysd/actionlint), built from its Go module
#   hclfmt      HCL's own formatter (github.com/hashicorp/hcl/v2/cmd/hclfmt): the
#               layout `terraform fmt` enforces (hclwrite.Format), in 20 s cold
#   tofu        OpenTofu, for `tofu validate` (and its fmt -check) of terraform/ where
#               the registry is reachable, built from its Go module: 9 min cold on
#               two CPUs, so it is built only when validate can run (hack/test.sh)
#   checkov     static analysis of terraform/ and .github/, in a venv of its own:
#               its pins (boto3 1.35, packaging 23 among them) conflict with the
#               project's, so it cannot live in .venv
#
#   hack/go-tools.sh [NAME...]  build what is missing (hack/install.sh runs this)
#   hack/go-tools.sh path NAME  print the binary's path (exit 1 if not built)
#
# `go install` refuses OpenTofu's module (its go.mod has a replace directive),
# so tofu is built through a throwaway wrapper module that requires it and
# repeats its replace directives, which gives exactly the dependency versions
# OpenTofu's own go.mod selects.
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12
HCL_VERSION=v2.25.0
TOFU_VERSION=v1.12.6
CHECKOV_VERSION=3.3.30
TOOLS_DIR=${LBCTL_TOOLS_DIR:-$HOME/.cache/lbctl/tools}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
building=""
trap 'if [[ -n $building ]]; then chmod -R u+w "$building"; rm -rf "$building"; fi' EXIT

bin_path() {
  case $1 in
    actionlint) echo "$TOOLS_DIR/actionlint-$ACTIONLINT_VERSION/bin/actionlint" ;;
    hclfmt) echo "$TOOLS_DIR/hclfmt-$HCL_VERSION/bin/hclfmt" ;;
    tofu) echo "$TOOLS_DIR/tofu-$TOFU_VERSION/bin/tofu" ;;
    checkov) echo "$TOOLS_DIR/checkov-$CHECKOV_VERSION/bin/checkov" ;;
    *) echo "go-tools: unknown tool $1" >&2; return 2 ;;
  esac
}

# Build into a temporary directory and rename it into place, so a cache
# directory exists only when its binary is complete.
# `go install PACKAGE@VERSION` into TOOLS_DIR/NAME-VERSION/bin.
go_install() {
  local name=$1 package=$2 version=$3 dest tmp
  dest=$TOOLS_DIR/$name-$version
  tmp=$(mktemp -d "$TOOLS_DIR/.$name.XXXXXX")
  building=$tmp
  GOBIN=$tmp/bin go install "$package@$version"
  mv "$tmp" "$dest"
  building=""
}

build_actionlint() { go_install actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"; }
build_hclfmt() { go_install hclfmt github.com/hashicorp/hcl/v2/cmd/hclfmt "$HCL_VERSION"; }

build_tofu() {
  local dest tmp gomod
  dest=$TOOLS_DIR/tofu-$TOFU_VERSION
  tmp=$(mktemp -d "$TOOLS_DIR/.tofu.XXXXXX")
  building=$tmp
  gomod=$(cd "$tmp" && go mod download -json "github.com/opentofu/opentofu@$TOFU_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  mkdir "$tmp/src"
  {
    echo "module lbctl.local/tofu-build"
    echo
    sed -n 's/^go \(.*\)$/go \1/p' "$gomod"
    echo
    echo "require github.com/opentofu/opentofu $TOFU_VERSION"
    echo
    grep '^replace ' "$gomod" || true
  } > "$tmp/src/go.mod"
  (
    cd "$tmp/src"
    go get "github.com/opentofu/opentofu/cmd/tofu@$TOFU_VERSION"
    # dev=no: a release's version string (v1.12.6, not v1.12.6-dev)
    go build -trimpath -ldflags "-X github.com/opentofu/opentofu/version.dev=no" \
      -o "$tmp/bin/tofu" github.com/opentofu/opentofu/cmd/tofu
  )
  rm -rf "$tmp/src"
  mv "$tmp" "$dest"
  building=""
}

# A venv cannot move (its scripts name their interpreter by path), so it is
# made in place and marked complete at the end.
build_checkov() {
  local dest=$TOOLS_DIR/checkov-$CHECKOV_VERSION
  rm -rf "$dest"
  building=$dest
  python3 -m venv "$dest"
  "$dest/bin/pip" install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  touch "$dest/.complete"
  building=""
}

built() {
  local path
  path=$(bin_path "$1")
  [[ -x $path && ( $1 != checkov || -f ${path%/bin/checkov}/.complete ) ]]
}

if [[ ${1:-} == path ]]; then
  path=$(bin_path "${2:?usage: go-tools.sh path NAME}")
  built "$2" || { echo "go-tools: $2 is not installed (run hack/go-tools.sh)" >&2; exit 1; }
  echo "$path"
  exit 0
fi

command -v go >/dev/null || { echo "go-tools: Go is required" >&2; exit 1; }
mkdir -p "$TOOLS_DIR"
tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(actionlint hclfmt checkov)
for tool in "${tools[@]}"; do
  if ! built "$tool"; then
    echo "go-tools: building $tool"
    start=$SECONDS
    "build_$tool"
    echo "go-tools: $tool built in $((SECONDS - start)) s"
  fi
done
