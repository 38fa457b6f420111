"""Which nodes may host a probe pod, and how the suite decides whether the runner
reaches node addresses: the flag first, then the cluster adapter, then a connect
to each node's kubelet port (here: loopback addresses with nothing listening)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import cast

import pytest

from conformance.cluster import ClusterHandle
from conformance.guard import DestinationGuard
from conformance.kube import Kube, NodeInfo
from conformance.settings import Reachability
from conformance.topology import Topology

pytestmark = pytest.mark.unit


def node(name: str, ip: str, *, schedulable: bool = True, ready: bool = True) -> NodeInfo:
    return NodeInfo(name=name, internal_ip=ip, ready=ready, schedulable=schedulable, labels={})


NODES = [
    node("cp", "127.0.0.11", schedulable=False),
    node("b", "127.0.0.13"),
    node("a", "127.0.0.12"),
    node("down", "127.0.0.14", ready=False),
]


class FakeKube:
    def nodes(self) -> list[NodeInfo]:
        return NODES


def topology(on_node_network: bool | None, reaches: Reachability) -> Topology:
    handle = ClusterHandle(
        name="kubeconfig /k",
        kubeconfig=Path("/k"),
        guard=DestinationGuard([ipaddress.ip_network("127.0.0.0/8")], frozen=True),
        runner_on_node_network=on_node_network,
    )
    return Topology(cast(Kube, FakeKube()), handle, reaches=reaches)


def test_probe_hosts_are_workers_first_then_the_control_plane() -> None:
    topo = topology(True, Reachability.AUTO)
    assert topo.probe_hosts == ["a", "b", "cp"]
    assert topo.node_by_ip == {"127.0.0.11": "cp", "127.0.0.13": "b", "127.0.0.12": "a"}


@pytest.mark.parametrize(
    ("adapter", "flag", "reaches", "how"),
    [
        pytest.param(
            True,
            Reachability.NO,
            False,
            "--conformance-runner-reaches-nodes=no",
            id="flag-no-beats-adapter",
        ),
        pytest.param(
            False,
            Reachability.YES,
            True,
            "--conformance-runner-reaches-nodes=yes",
            id="flag-yes-beats-adapter",
        ),
        pytest.param(
            True, Reachability.AUTO, True, "the kubeconfig /k cluster's adapter", id="adapter"
        ),
        pytest.param(
            None,
            Reachability.AUTO,
            True,
            "cp:10250",  # refused here (nothing listens on 127.0.0.11): a route exists
            id="kubelet-port-answered",
        ),
    ],
)
def test_reachability(adapter: bool | None, flag: Reachability, reaches: bool, how: str) -> None:
    got, said = topology(adapter, flag).reachability
    assert got is reaches
    assert how in said
