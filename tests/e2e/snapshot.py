"""What the machine looks like: processes, namespaces, links, routes, mounts, rules.

A snapshot is taken before the local cluster starts and compared after it
stops. Other work may run on the machine at the same time (other tests make
their own namespaces and control planes), so `leftovers` reports only added
items that carry the local cluster's marks: its state directory, its names
(lbk*, lbctl-*, cni0), its address ranges (198.18.0.0/15) or the paths its
nodes shadow.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from localcluster.mountns import SHADOWED_DIRS
from localcluster.state import state_dir

#: binaries only the local cluster runs (other tests run etcd/apiserver too)
_CLUSTER_BINARIES = (
    "containerd",
    "containerd-shim-runc-v2",
    "kubelet",
    "kube-proxy",
    "kube-scheduler",
    "coredns",
    "agnhost",
    "runc",
)


@dataclass(frozen=True)
class Snapshot:
    processes: frozenset[str]
    namespaces: frozenset[str]
    links: frozenset[str]
    routes: frozenset[str]
    mounts: frozenset[str]
    rules: frozenset[str]


def _lines(argv: list[str]) -> frozenset[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return frozenset(line.strip() for line in proc.stdout.splitlines() if line.strip())


def _processes() -> frozenset[str]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline:
            found.add(f"{entry.name} {cmdline.strip()}")
    return frozenset(found)


def take() -> Snapshot:
    links = _lines(["ip", "-o", "link", "show"])
    return Snapshot(
        processes=_processes(),
        namespaces=_lines(["ip", "netns", "list"]),
        # Interface indexes and counters change; keep name and kind.
        links=frozenset(re.sub(r"^\d+: ", "", line).split(":")[0] for line in links),
        routes=_lines(["ip", "-4", "route", "show", "table", "all"]),
        mounts=frozenset(
            line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
        ),
        rules=_lines(["nft", "list", "ruleset"]) | _lines(["iptables-save"]),
    )


def _ours(kind: str, item: str) -> bool:
    state = str(state_dir())
    if state in item:
        return True
    if kind == "processes":
        argv0 = item.split(" ", 2)[1] if " " in item else ""
        return Path(argv0).name in _CLUSTER_BINARIES
    if kind == "namespaces":
        return item.startswith("lbctl-")
    if kind == "links":
        return item.startswith(("lbk", "cni0")) or ("@" in item and item.startswith("lbkv"))
    if kind == "routes":
        return "198.18." in item or "198.19." in item or "lbk0" in item
    if kind == "mounts":
        return item.startswith(("/run/netns/lbctl-", *SHADOWED_DIRS))
    return "198.18." in item or "198.19." in item or "lbk0" in item or "cni0" in item


def leftovers(before: Snapshot, after: Snapshot) -> dict[str, list[str]]:
    """Items added since `before` that belong to the local cluster, by kind."""
    found: dict[str, list[str]] = {}
    for kind in ("processes", "namespaces", "links", "routes", "mounts", "rules"):
        added = getattr(after, kind) - getattr(before, kind)
        ours = sorted(item for item in added if _ours(kind, item))
        if ours:
            found[kind] = ours
    return found
