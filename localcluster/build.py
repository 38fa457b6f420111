"""Build pinned upstream binaries from their Go modules, cached by version.

Guarantees:
- a binary in the cache was built completely from the recipe recorded beside
  it (version, package, flags, Go version); a different recipe rebuilds it, an
  interrupted build leaves no file that looks complete;
- concurrent callers (pytest-xdist workers, two shells) build each binary once:
  the cache directory is locked while it is written;
- only the binaries asked for are built, one progress line each.

Kubernetes is built from a small generated module that requires
k8s.io/kubernetes and replaces each k8s.io staging module with its published
version, the way upstream's own go.mod replaces them with local paths. Go's
module and build caches are reused, so a rebuild after a version bump only
compiles what changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from localcluster.filelock import file_lock
from localcluster.versions import (
    CONTAINERD_VERSION,
    COREDNS_VERSION,
    ETCD_VERSION,
    KUBERNETES_VERSION,
    staging_version,
)

log = logging.getLogger(__name__)

GO_LDFLAGS = "-s -w"


class BuildError(RuntimeError):
    """A Go build step failed; the message carries the command's output tail."""


def cache_root() -> Path:
    """Return the cache directory: $LBCTL_CACHE, else ~/.cache/lbctl."""
    return Path(os.environ.get("LBCTL_CACHE", Path.home() / ".cache" / "lbctl"))


@dataclass(frozen=True)
class GoModule:
    """A generated Go module whose packages build into cached binaries."""

    name: str
    version: str
    #: binary name -> import path of its main package
    packages: dict[str, str]
    #: file name -> contents, written into the module before it is tidied
    files: dict[str, str]
    ldflags: str = GO_LDFLAGS
    tags: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return cache_root() / self.name / self.version

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"


def _go_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    # Never fetch another toolchain, never build against a vendor directory.
    env.update({"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod -buildvcs=false", "CGO_ENABLED": "0"})
    env.update(extra)
    return env


def _run_go(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["go", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise BuildError(f"go {' '.join(args)} failed in {cwd}:\n{tail}")
    return proc.stdout


def go_version() -> str:
    out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _recipe(module: GoModule, binary: str, go: str) -> str:
    spec = {
        "module": module.files,
        "package": module.packages[binary],
        "ldflags": module.ldflags,
        "tags": module.tags,
        "go": go,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _prepare_module(module: GoModule, env: dict[str, str]) -> None:
    """Write the module's files and tidy it, unless it is already prepared."""
    src = module.root / "src"
    stamp = src / ".tidy"
    digest = hashlib.sha256(json.dumps(module.files, sort_keys=True).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    src.mkdir(parents=True, exist_ok=True)
    for name, text in module.files.items():
        (src / name).write_text(text)
    _run_go(["mod", "tidy"], cwd=src, env=env)
    stamp.write_text(digest)


def ensure_binaries(module: GoModule, names: Sequence[str]) -> dict[str, Path]:
    """Return paths of the named binaries, building whichever is missing or stale."""
    unknown = sorted(set(names) - set(module.packages))
    if unknown:
        raise ValueError(f"{module.name} builds no binary named {', '.join(unknown)}")
    env = _go_env(module.env)
    go = go_version()
    paths = {name: module.bin_dir / name for name in names}
    with file_lock(module.root / ".lock"):
        stale = [n for n in names if not _is_current(module, n, go)]
        if stale:
            _prepare_module(module, env)
        for index, name in enumerate(stale, start=1):
            _build_one(module, name, go=go, env=env, progress=f"{index}/{len(stale)}")
    return paths


def _is_current(module: GoModule, name: str, go: str) -> bool:
    binary = module.bin_dir / name
    recipe = module.bin_dir / f".{name}.recipe"
    return binary.exists() and recipe.exists() and recipe.read_text() == _recipe(module, name, go)


def _build_one(module: GoModule, name: str, *, go: str, env: dict[str, str], progress: str) -> None:
    module.bin_dir.mkdir(parents=True, exist_ok=True)
    partial = module.bin_dir / f".{name}.partial"
    print(
        f"lbctl: building {name} {module.version} ({progress}) with {go}...",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    args = ["build", "-trimpath", f"-ldflags={module.ldflags}", "-o", str(partial)]
    if module.tags:
        args.append(f"-tags={','.join(module.tags)}")
    _run_go([*args, module.packages[name]], cwd=module.root / "src", env=env)
    partial.rename(module.bin_dir / name)
    (module.bin_dir / f".{name}.recipe").write_text(_recipe(module, name, go))
    print(
        f"lbctl: built {name} in {time.monotonic() - started:.0f}s",
        file=sys.stderr,
        flush=True,
    )


# --- Kubernetes -----------------------------------------------------------

KUBERNETES_PACKAGES = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    "agnhost": "k8s.io/kubernetes/test/images/agnhost",
}

_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", re.MULTILINE)


def _upstream_go_mod(version: str) -> str:
    """Download k8s.io/kubernetes@version's go.mod through the module proxy."""
    out = _run_go(
        ["mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
        cwd=cache_root(),
        env=_go_env({}),
    )
    return Path(json.loads(out)["GoMod"]).read_text()


def _go_directive(go_mod: str) -> str:
    match = re.search(r"^go (\S+)$", go_mod, re.MULTILINE)
    if match is None:
        raise BuildError("upstream go.mod has no go directive")
    return match.group(1)


def _kubernetes_go_mod(version: str, module_path: str) -> str:
    """A go.mod that builds from k8s.io/kubernetes `version` and its published staging modules."""
    upstream = _upstream_go_mod(version)
    staging = _STAGING_REPLACE.findall(upstream)
    published = staging_version(version)
    replaces = "".join(f"\t{mod} => {mod} {published}\n" for mod in staging)
    return (
        f"module {module_path}\n\n"
        f"go {_go_directive(upstream)}\n\n"
        f"require k8s.io/kubernetes {version}\n\n"
        f"replace (\n{replaces})\n"
    )


def _kubernetes_tools(package: str, packages: Sequence[str]) -> str:
    imports = "".join(f'\t_ "{pkg}"\n' for pkg in packages)
    return f"//go:build tools\n\npackage {package}\n\nimport (\n{imports})\n"


def _kubernetes_ldflags(version: str) -> str:
    minor = version.lstrip("v").split(".")[1]
    version_pkg = "k8s.io/component-base/version"
    return " ".join(
        [
            GO_LDFLAGS,
            f"-X {version_pkg}.gitVersion={version}",
            f"-X {version_pkg}.gitMajor=1",
            f"-X {version_pkg}.gitMinor={minor}",
            f"-X {version_pkg}.gitTreeState=clean",
        ]
    )


def kubernetes_module(version: str = KUBERNETES_VERSION) -> GoModule:
    """Describe the module that builds Kubernetes `version` from the proxy."""
    cache_root().mkdir(parents=True, exist_ok=True)
    return GoModule(
        name="kubernetes",
        version=version,
        packages=KUBERNETES_PACKAGES,
        files={
            "go.mod": _kubernetes_go_mod(version, "lbctl.local/kubebuild"),
            "tools.go": _kubernetes_tools("kubebuild", list(KUBERNETES_PACKAGES.values())),
        },
        ldflags=_kubernetes_ldflags(version),
    )


#: kubectl (kustomize built in) from the same release, for applying deploy/.
KUBECTL_PACKAGE = "k8s.io/kubernetes/cmd/kubectl"


def kubectl_module(version: str = KUBERNETES_VERSION) -> GoModule:
    """Describe the module that builds kubectl `version` from the proxy.

    A module of its own (cached under kubectl/<version>), so that adding it
    left the server binaries' recipes, and so their cache, untouched; Go's
    module and build caches are shared, so it compiles only what it adds.
    """
    cache_root().mkdir(parents=True, exist_ok=True)
    return GoModule(
        name="kubectl",
        version=version,
        packages={"kubectl": KUBECTL_PACKAGE},
        files={
            "go.mod": _kubernetes_go_mod(version, "lbctl.local/kubectlbuild"),
            "tools.go": _kubernetes_tools("kubectlbuild", [KUBECTL_PACKAGE]),
        },
        ldflags=_kubernetes_ldflags(version),
    )


# --- etcd -----------------------------------------------------------------

_ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


def etcd_module(version: str = ETCD_VERSION) -> GoModule:
    """Describe the module that builds the etcd server `version` from the proxy."""
    go_mod = (
        "module lbctl.local/etcdbuild\n\ngo 1.26.0\n\n"
        f"require go.etcd.io/etcd/server/v3 {version}\n"
    )
    return GoModule(
        name="etcd",
        version=version,
        packages={"etcd": "lbctl.local/etcdbuild"},
        files={"go.mod": go_mod, "main.go": _ETCD_MAIN},
    )


def ensure_control_plane_binaries(
    kubernetes_version: str = KUBERNETES_VERSION,
) -> dict[str, Path]:
    """Build (or find in the cache) etcd, kube-apiserver and kube-controller-manager."""
    paths = ensure_binaries(etcd_module(), ["etcd"])
    paths |= ensure_binaries(
        kubernetes_module(kubernetes_version), ["kube-apiserver", "kube-controller-manager"]
    )
    return paths


# --- containerd -------------------------------------------------------------

CONTAINERD_PACKAGES = {
    "containerd": "github.com/containerd/containerd/v2/cmd/containerd",
    "containerd-shim-runc-v2": "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
    "ctr": "github.com/containerd/containerd/v2/cmd/ctr",
}

# Drop the snapshotters that need cgo or kernel features this cluster never
# uses (it runs overlayfs), and build pure-Go static binaries like upstream's
# static release.
_CONTAINERD_TAGS = (
    "no_btrfs",
    "no_devmapper",
    "no_zfs",
    "urfave_cli_no_docs",
    "osusergo",
    "netgo",
    "static_build",
)

_CONTAINERD_TOOLS = """//go:build tools

package containerdbuild

import (
{imports})
"""


def containerd_module(version: str = CONTAINERD_VERSION) -> GoModule:
    """Describe the module that builds containerd `version`, its runc shim and ctr."""
    go_mod = (
        "module lbctl.local/containerdbuild\n\ngo 1.26.6\n\n"
        f"require github.com/containerd/containerd/v2 {version}\n"
    )
    imports = "".join(f'\t_ "{pkg}"\n' for pkg in CONTAINERD_PACKAGES.values())
    version_pkg = "github.com/containerd/containerd/v2/version"
    ldflags = " ".join(
        [
            GO_LDFLAGS,
            f"-X {version_pkg}.Version={version}",
            f"-X {version_pkg}.Package=github.com/containerd/containerd/v2",
        ]
    )
    return GoModule(
        name="containerd",
        version=version,
        packages=CONTAINERD_PACKAGES,
        files={"go.mod": go_mod, "tools.go": _CONTAINERD_TOOLS.format(imports=imports)},
        ldflags=ldflags,
        tags=_CONTAINERD_TAGS,
    )


# --- CoreDNS ----------------------------------------------------------------

#: The plugins the local cluster's Corefile uses, in CoreDNS's execution order.
#: Nothing forwards anywhere: no upstream resolver is reachable from here.
COREDNS_PLUGINS = ("log", "errors", "health", "ready", "loadbalance", "cache", "kubernetes")

_COREDNS_MAIN = """package main

import (
\t"github.com/coredns/coredns/core/dnsserver"
\t"github.com/coredns/coredns/coremain"
{imports})

func main() {{
\tif err := dnsserver.SetDirectives([]string{{{directives}}}); err != nil {{
\t\tpanic(err)
\t}}
\tcoremain.Run()
}}
"""


def coredns_module(version: str = COREDNS_VERSION) -> GoModule:
    """Describe a CoreDNS `version` that links only COREDNS_PLUGINS."""
    go_mod = (
        "module lbctl.local/corednsbuild\n\ngo 1.26.0\n\n"
        f"require github.com/coredns/coredns {version}\n"
    )
    imports = "".join(
        f'\t_ "github.com/coredns/coredns/plugin/{name}"\n' for name in COREDNS_PLUGINS
    )
    directives = ", ".join(f'"{name}"' for name in COREDNS_PLUGINS)
    main_go = _COREDNS_MAIN.format(imports=imports, directives=directives)
    return GoModule(
        name="coredns",
        version=version,
        packages={"coredns": "lbctl.local/corednsbuild"},
        files={"go.mod": go_mod, "main.go": main_go},
    )


#: Every binary the local multi-node cluster runs, by module.
NODE_BINARIES = {
    "kubernetes": ("kube-scheduler", "kubelet", "kube-proxy", "agnhost"),
    "containerd": tuple(CONTAINERD_PACKAGES),
    "coredns": ("coredns",),
}


def _module_for(name: str) -> str:
    if name == "etcd":
        return "etcd"
    if name in CONTAINERD_PACKAGES:
        return "containerd"
    if name == "coredns":
        return "coredns"
    if name in KUBERNETES_PACKAGES:
        return "kubernetes"
    if name == "kubectl":
        return "kubectl"
    raise ValueError(f"no module builds a binary named {name!r}")


def ensure_named(
    names: Sequence[str], *, kubernetes_version: str = KUBERNETES_VERSION
) -> dict[str, Path]:
    """Build (or find in the cache) binaries by name, whatever module holds them."""
    factories: dict[str, Callable[[], GoModule]] = {
        "etcd": etcd_module,
        "kubernetes": lambda: kubernetes_module(kubernetes_version),
        "kubectl": lambda: kubectl_module(kubernetes_version),
        "containerd": containerd_module,
        "coredns": coredns_module,
    }
    by_module: dict[str, list[str]] = {}
    for name in names:
        by_module.setdefault(_module_for(name), []).append(name)
    paths: dict[str, Path] = {}
    for module_name, wanted in by_module.items():
        paths |= ensure_binaries(factories[module_name](), wanted)
    return paths


def ensure_cluster_binaries(kubernetes_version: str = KUBERNETES_VERSION) -> dict[str, Path]:
    """Build (or find in the cache) everything the local multi-node cluster runs,
    and the kubectl that applies deploy/overlays/local to it."""
    paths = ensure_control_plane_binaries(kubernetes_version)
    paths |= ensure_named(
        [n for names in NODE_BINARIES.values() for n in names] + ["kubectl"],
        kubernetes_version=kubernetes_version,
    )
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m localcluster.build [all | NAME ...]`: build binaries ahead of time."""
    names = list(argv if argv is not None else sys.argv[1:])
    if not names:
        ensure_control_plane_binaries()
    elif names == ["all"]:
        ensure_cluster_binaries()
    else:
        ensure_named(names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
