"""MetalLB's objects for a host-process run on the local cluster, as pure data.

Guarantees:
- RBAC is MetalLB's own (`config/rbac` of the pinned module), only placed in
  `NAMESPACE` (the module's kustomization leaves that to its overlays);
- the address pool and the L2Advertisement are layer-2 mode on the node
  bridge: `POOL` (198.18.0.150-198.18.0.199) shares no address with lbctl's
  198.18.0.200-198.18.0.250, and announcements go out of eth0 only, the
  interface nodeproxy uses;
- memberlist (MetalLB's fast dead-node detection, on in its default
  manifests) finds its peers by listing speaker *pods*; a host-process
  speaker has none, so `speaker_placeholders` makes one host-network pod per
  node with the speaker's labels: its pod IP is the node IP, where the
  host-process speaker of that node listens (7946), exactly as with
  MetalLB's host-network DaemonSet;
- a kubeconfig built here carries one ServiceAccount token and the admin
  kubeconfig's cluster entry (server, CA), nothing of the admin's identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NAMESPACE = "metallb-system"
#: the loadBalancerClass MetalLB serves here (`--lb-class`); lbctl serves lbctl.io/lbctl
LB_CLASS = "metallb.io/metallb"
POOL_NAME = "bridge"
#: on the node bridge's L2, disjoint from lbctl's 198.18.0.200-198.18.0.250
POOL = "198.18.0.150-198.18.0.199"
#: the memberlist labels of MetalLB's manifests (METALLB_ML_LABELS)
SPEAKER_LABELS = {"app": "metallb", "component": "speaker"}
CONTROLLER_SA = "controller"
SPEAKER_SA = "speaker"

Manifest = dict[str, Any]

_NAMESPACED = {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret"}


def namespaced(documents: Iterable[Manifest], namespace: str = NAMESPACE) -> list[Manifest]:
    """MetalLB's RBAC documents with their namespace (and their subjects') set."""
    placed = []
    for document in documents:
        if not document:
            continue
        item = {**document, "metadata": dict(document.get("metadata") or {})}
        if item.get("kind") in _NAMESPACED:
            item["metadata"]["namespace"] = namespace
        if "subjects" in item:
            item["subjects"] = [
                {**s, "namespace": namespace} if s.get("kind") == "ServiceAccount" else s
                for s in item["subjects"]
            ]
        placed.append(item)
    return placed


def address_pool(name: str, addresses: list[str]) -> Manifest:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"addresses": addresses, "autoAssign": True},
    }


def l2_advertisement(pools: list[str], interface: str = "eth0") -> Manifest:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": "bridge", "namespace": NAMESPACE},
        "spec": {"ipAddressPools": pools, "interfaces": [interface]},
    }


def speaker_placeholder(node: str, image: str) -> Manifest:
    """A host-network pod on `node` whose only job is to carry the speaker's labels."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"speaker-{node}",
            "namespace": NAMESPACE,
            "labels": dict(SPEAKER_LABELS),
        },
        "spec": {
            "nodeName": node,
            "hostNetwork": True,
            "tolerations": [{"operator": "Exists"}],
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "placeholder",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["pause"],
                }
            ],
        },
    }


def token_kubeconfig(admin: Manifest, *, user: str, token: str) -> Manifest:
    """A kubeconfig for `token` on the admin kubeconfig's current cluster."""
    contexts = {c["name"]: c["context"] for c in admin.get("contexts") or []}
    current = contexts.get(admin.get("current-context", ""), {})
    clusters = {c["name"]: c for c in admin.get("clusters") or []}
    cluster = clusters.get(current.get("cluster", "")) or (admin.get("clusters") or [None])[0]
    if cluster is None:
        raise ValueError("the admin kubeconfig names no cluster")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": user,
    }
