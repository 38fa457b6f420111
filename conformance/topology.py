"""What the cluster offers the checks: nodes, DNS, reachability from the runner.

Guarantees: facts are read once per session; `need_*` helpers skip the
calling test with a printed reason when the cluster lacks what a check needs
(a second node, cluster DNS) instead of failing or passing vacuously; whether
the runner reaches node addresses follows `--conformance-runner-reaches-nodes`
when it says yes or no, and is found out (the cluster adapter's word, else
one kubelet-port connect per node until one answers) when it says auto, and
`reachability` says which.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from functools import cached_property

import pytest

from conformance.cluster import ClusterHandle
from conformance.kube import Kube, NodeInfo
from conformance.settings import Reachability

KUBELET_PORT = 10250
CLUSTER_DOMAIN = "cluster.local"


@dataclass
class Topology:
    """The cluster as the checks see it."""

    kube: Kube
    handle: ClusterHandle
    reaches: Reachability = Reachability.AUTO
    nodes: list[NodeInfo] = field(init=False)

    def __post_init__(self) -> None:
        self.nodes = [n for n in self.kube.nodes() if n.ready and n.internal_ip]
        for node in self.nodes:
            if node.internal_ip and not self.handle.guard.frozen:
                self.handle.guard.admit(node.internal_ip)

    @property
    def workers(self) -> list[NodeInfo]:
        """Ready nodes that take ordinary pods, by name."""
        return sorted((n for n in self.nodes if n.schedulable), key=lambda n: n.name)

    def need_workers(self, count: int) -> list[NodeInfo]:
        """At least `count` schedulable nodes, or skip the test saying so."""
        workers = self.workers
        if len(workers) < count:
            pytest.skip(f"needs {count} schedulable ready nodes; the cluster has {len(workers)}")
        return workers

    @property
    def node_by_ip(self) -> dict[str, str]:
        """InternalIP -> name of every ready node."""
        return {n.internal_ip: n.name for n in self.nodes if n.internal_ip}

    @property
    def probe_hosts(self) -> list[str]:
        """Nodes that may run a host-network probe pod, best first: the
        schedulable ones by name, then the rest (the control plane)."""
        workers = [n.name for n in self.workers]
        return workers + sorted(n.name for n in self.nodes if n.name not in workers)

    def ip_of(self, node_name: str) -> str:
        for node in self.nodes:
            if node.name == node_name and node.internal_ip:
                return node.internal_ip
        raise AssertionError(f"node {node_name} has no InternalIP or is not ready")

    @cached_property
    def has_dns(self) -> bool:
        return self.kube.has_service("kube-system", "kube-dns")

    def need_dns(self) -> None:
        if not self.has_dns:
            pytest.skip("the cluster has no kube-system/kube-dns Service (no cluster DNS)")

    @cached_property
    def reachability(self) -> tuple[bool, str]:
        """Whether this process can open connections to node InternalIPs, and how
        the suite knows."""
        flag = "--conformance-runner-reaches-nodes"
        if self.reaches is Reachability.YES:
            return True, f"{flag}=yes"
        if self.reaches is Reachability.NO:
            return False, f"{flag}=no"
        if self.handle.runner_on_node_network is not None:
            return self.handle.runner_on_node_network, f"the {self.handle.name} cluster's adapter"
        for node in self.nodes:
            assert node.internal_ip
            address = self.handle.guard.check(node.internal_ip)
            try:
                with socket.create_connection((address, KUBELET_PORT), timeout=3):
                    return True, f"{node.name}:{KUBELET_PORT} accepted a connection"
            except ConnectionRefusedError:
                return True, f"{node.name}:{KUBELET_PORT} refused a connection (a route exists)"
            except OSError:
                continue
        return False, f"no node answered a connection to the kubelet port {KUBELET_PORT}"

    @property
    def runner_reaches_nodes(self) -> bool:
        return self.reachability[0]
