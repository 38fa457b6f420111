"""Backends and clients the checks stand up in their namespace.

Guarantees: every helper waits (bounded) until what it made is ready and
returns the ready pods; Deployments spread their pods over nodes
(topologySpreadConstraints on the hostname, best effort) so multi-node
paths are exercised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conformance import manifests as m
from conformance.kube import Namespace, PodInfo
from conformance.probes import PodProbe

POD_READY_TIMEOUT = 180.0


def spread_spec(app: str, **netexec_args: Any) -> m.Manifest:
    spec = m.pod_spec([m.netexec(**netexec_args)])
    spec["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": m.app_selector(app)},
        }
    ]
    return spec


def deployment(ns: Namespace, app: str, replicas: int, **netexec_args: Any) -> list[PodInfo]:
    """A Deployment `app` of netexec pods spread over nodes; its ready pods."""
    ns.create(m.deployment(app, app, replicas=replicas, spec=spread_spec(app, **netexec_args)))
    if replicas == 0:
        return []
    return ns.wait_ready(m.app_selector(app), replicas, timeout=POD_READY_TIMEOUT)


def pinned(ns: Namespace, app: str, nodes: Sequence[str], **netexec_args: Any) -> list[PodInfo]:
    """One netexec pod per entry of `nodes` (`<app>-<i>`), each on that node."""
    for index, node in enumerate(nodes):
        ns.create(m.backend_pod(f"{app}-{index}", app, node=node, **netexec_args))
    return ns.wait_ready(m.app_selector(app), len(nodes), timeout=POD_READY_TIMEOUT)


def client(
    ns: Namespace, name: str = "client", *, node: str | None = None, host_network: bool = False
) -> PodProbe:
    """A probe client pod, ready."""
    ns.create(m.client_pod(name, node=node, host_network=host_network))
    info = ns.wait_pod_ready(name, timeout=POD_READY_TIMEOUT)
    return PodProbe(ns.kube, ns.name, name, ip=info.ip)


def names(pods: Sequence[PodInfo]) -> set[str]:
    return {p.name for p in pods}


def ips(pods: Sequence[PodInfo]) -> set[str]:
    return {p.ip for p in pods if p.ip}
