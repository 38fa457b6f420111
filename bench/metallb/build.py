"""MetalLB's controller and speaker, built from its Go module at a pinned version.

Guarantees:
- the binaries come from `go.universe.tf/metallb` at `METALLB_VERSION`, fetched
  through the Go module proxy (github.com/metallb/metallb is not reachable here),
  built like the local cluster's Kubernetes (CGO off, `-trimpath`) and cached by
  version under `~/.cache/lbctl/metallb/<version>/bin` (`$LBCTL_CACHE` moves it),
  rebuilt only when the recipe or the Go toolchain changes;
- the CRDs are the module's own (`config/crd/bases`), read from the Go module
  cache at that version, never from a copy kept here.

    .venv/bin/python bench/metallb/build.py     # build ahead of time, print the paths
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from localcluster.build import BuildError, GoModule, cache_root, ensure_binaries

#: v0.16.x needs an frr-k8s the proxy does not serve (DESIGN.md, measured facts)
METALLB_VERSION = "v0.15.2"
MODULE = "go.universe.tf/metallb"
PACKAGES = {
    "controller": f"{MODULE}/controller",
    "speaker": f"{MODULE}/speaker",
}
CRD_DIR = "config/crd/bases"

_TOOLS = """//go:build tools

package metallbbuild

import (
{imports})
"""


def metallb_module(version: str = METALLB_VERSION) -> GoModule:
    """Describe the wrapper module that builds MetalLB `version`'s two programs."""
    cache_root().mkdir(parents=True, exist_ok=True)
    go_mod = f"module lbctl.local/metallbbuild\n\ngo 1.24.0\n\nrequire {MODULE} {version}\n"
    imports = "".join(f'\t_ "{pkg}"\n' for pkg in PACKAGES.values())
    version_pkg = f"{MODULE}/internal/version"
    return GoModule(
        name="metallb",
        version=version,
        packages=PACKAGES,
        files={"go.mod": go_mod, "tools.go": _TOOLS.format(imports=imports)},
        ldflags=f"-s -w -X {version_pkg}.gitCommit={version} -X {version_pkg}.gitBranch=module",
    )


def ensure_metallb(version: str = METALLB_VERSION) -> dict[str, Path]:
    """Paths of `controller` and `speaker`, building whichever is missing or stale."""
    return ensure_binaries(metallb_module(version), list(PACKAGES))


def module_source(version: str = METALLB_VERSION) -> Path:
    """The module's source tree in the Go module cache (downloaded if needed)."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{version}"],
        cwd=cache_root(),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
    )
    if proc.returncode != 0:
        raise BuildError(f"go mod download {MODULE}@{version}: {proc.stderr.strip()}")
    return Path(json.loads(proc.stdout)["Dir"])


def crd_files(version: str = METALLB_VERSION) -> list[Path]:
    """The module's CRD manifests (IPAddressPool, L2Advertisement, ...), sorted."""
    files = sorted((module_source(version) / CRD_DIR).glob("*.yaml"))
    if not files:
        raise BuildError(f"{MODULE}@{version} has no CRDs under {CRD_DIR}")
    return files


def main() -> int:
    for name, path in ensure_metallb().items():
        print(f"{name}: {path}")
    for path in crd_files():
        print(f"crd: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
