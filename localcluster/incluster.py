"""lbctl and nodeproxy on the local cluster as users run them, from their images.

The cluster builds (or finds cached) the lbctl and nodeproxy images from the
project's Dockerfile (`IMAGES`) and imports them into every node's
containerd with its other images. `deploy(...)` applies
`deploy/overlays/local` with the pinned kubectl and returns when load
balancing works: the lbctl Deployment is available with a leader holding its
Lease, and a nodeproxy pod is ready on every node.

Guarantees:
- nothing runs on the host: lbctl is a Deployment with in-cluster config,
  nodeproxy a DaemonSet in each node's network namespace (hostNetwork);
- the manifests applied are exactly the shipped overlay (server-side apply,
  field manager `localcluster`), so the local cluster proves the shape users
  run; only the image names are the ones built here;
- a rollout that does not become ready within `timeout` raises
  `InClusterError` naming what is missing, with the pods' states.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster.build import ensure_named
from localcluster.imagebuild import REPO_ROOT

#: the overlay the local cluster applies
LOCAL_OVERLAY = REPO_ROOT / "deploy" / "overlays" / "local"
NAMESPACE = "lbctl-system"
CONTROLLER = "lbctl"
DATA_PLANE = "nodeproxy"
#: the Lease lbctl's leader holds: its --load-balancer-class with '/' and '.' as '-'
LEADER_LEASE = "lbctl-io-lbctl"
FIELD_MANAGER = "localcluster"
#: the project_recipes() the cluster builds and imports for in-cluster load balancing
IMAGES = ("lbctl", "nodeproxy")


class InClusterError(RuntimeError):
    """lbctl or nodeproxy did not become ready in the cluster."""


@dataclass(frozen=True)
class Kubectl:
    """The pinned kubectl, pointed at one cluster."""

    binary: Path
    kubeconfig: Path

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        argv = [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise InClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def get(self, kind: str, name: str) -> dict[str, Any]:
        out = self.run("get", kind, name, f"--namespace={NAMESPACE}", "--output=json")
        document: dict[str, Any] = json.loads(out)
        return document


def kubectl(kubeconfig: Path) -> Kubectl:
    """The pinned kubectl (built from the Kubernetes module, kustomize included)."""
    return Kubectl(ensure_named(["kubectl"])["kubectl"], kubeconfig)


def apply_overlay(tool: Kubectl, overlay: Path = LOCAL_OVERLAY) -> None:
    """Render `overlay` with kustomize and apply it server-side."""
    rendered = tool.run("kustomize", str(overlay))
    tool.run(
        "apply",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
        "--force-conflicts",
        "--filename=-",
        stdin=rendered,
    )


def wait_ready(
    tool: Kubectl,
    *,
    nodes: int,
    timeout: float = 180.0,
    say: Callable[[str], None] = lambda _: None,
) -> None:
    """Until lbctl is available with a leader and nodeproxy is ready on `nodes` nodes."""
    deadline = time.monotonic() + timeout
    missing = "nothing checked yet"
    while time.monotonic() < deadline:
        missing = _missing(tool, nodes=nodes)
        if not missing:
            say(f"lbctl and nodeproxy ready in-cluster (namespace {NAMESPACE})")
            return
        time.sleep(1)
    pods = tool.run("get", "pods", f"--namespace={NAMESPACE}", "--output=wide")
    raise InClusterError(f"load balancing not ready after {timeout:.0f}s: {missing}\n{pods}")


def _missing(tool: Kubectl, *, nodes: int) -> str:
    """What is not ready yet, or '' when everything is."""
    try:
        deployment = tool.get("deployment", CONTROLLER)
        daemonset = tool.get("daemonset", DATA_PLANE)
        lease = tool.get("lease", LEADER_LEASE)
    except InClusterError as err:
        return str(err)
    available = (deployment.get("status") or {}).get("availableReplicas") or 0
    if available < 1:
        return "no lbctl replica is available"
    ready = (daemonset.get("status") or {}).get("numberReady") or 0
    if ready < nodes:
        return f"nodeproxy ready on {ready} of {nodes} nodes"
    if not (lease.get("spec") or {}).get("holderIdentity"):
        return "no lbctl replica holds the leader Lease"
    return ""


def deploy(
    kubeconfig: Path,
    *,
    nodes: int,
    say: Callable[[str], None] = lambda _: None,
    timeout: float = 180.0,
) -> None:
    """Apply the local overlay (images already imported) and wait until it serves."""
    tool = kubectl(kubeconfig)
    say(f"applying {LOCAL_OVERLAY.relative_to(REPO_ROOT)}: lbctl Deployment, nodeproxy DaemonSet")
    apply_overlay(tool)
    wait_ready(tool, nodes=nodes, timeout=timeout, say=say)
