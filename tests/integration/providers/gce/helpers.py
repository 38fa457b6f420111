"""Building LoadBalancers for the gce provider tests the way the controller does,
and reading the fake's state in the form the tests assert on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lbcommon.desired import desired_load_balancer
from lbcommon.model import (
    LoadBalancer,
    NodeInfo,
    SessionAffinity,
    TrafficPolicy,
)
from lbctl.providers.gce.names import Scope
from tests.fakes.gce import GCEFake
from tests.services import service_spec

PROJECT = "p"
REGION = "us-central1"
CLUSTER_ID = "c1"
SCOPE = Scope(project=PROJECT, region=REGION, network="default", cluster_id=CLUSTER_ID)
UID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
LB = "a0b1c2d3e4f5061728394a5b6c7d8e9f"
SHARED_HC = f"k8s-{CLUSTER_ID}-node"
SHARED_FW = f"{SHARED_HC}-http-hc"
TAG = "k8s-node"


@dataclass(frozen=True)
class Node:
    name: str
    zone: str
    ip: str

    def info(self, *, excluded: bool = False) -> NodeInfo:
        return NodeInfo(
            name=self.name,
            internal_ip=self.ip,
            zone=self.zone,
            provider_id=f"gce://{PROJECT}/{self.zone}/{self.name}",
            excluded=excluded,
        )


def seed_nodes(fake: GCEFake, count: int, *, start: int = 0) -> list[Node]:
    """`count` instances over three zones, tagged TAG, IPs in 198.18.0.0/24."""
    zones = (f"{REGION}-a", f"{REGION}-b", f"{REGION}-c")
    nodes = []
    for index in range(start, start + count):
        node = Node(f"node-{index}", zones[index % 3], f"198.18.0.{10 + index % 200}")
        fake.seed_instance(node.name, zone=node.zone, ip=node.ip, tags=[TAG])
        nodes.append(node)
    return nodes


def service_lb(
    nodes: Sequence[Node] | Sequence[NodeInfo],
    *,
    uid: str = UID,
    name: str = "web",
    namespace: str = "default",
    ports: Sequence[tuple[int, str, int]] = ((80, "TCP", 30080),),
    ranges: Sequence[str] = (),
    affinity: SessionAffinity = SessionAffinity.NONE,
    policy: TrafficPolicy = TrafficPolicy.CLUSTER,
    health_port: int | None = 32000,
    ip: str | None = None,
    annotations: dict[str, str] | None = None,
) -> LoadBalancer:
    infos = [n.info() if isinstance(n, Node) else n for n in nodes]
    spec = service_spec(
        uid=uid,
        name=name,
        namespace=namespace,
        ports=ports,
        ranges=ranges,
        affinity=affinity,
        policy=policy,
        health_port=health_port if policy is TrafficPolicy.LOCAL else None,
        ip=ip,
        annotations=annotations,
    )
    return desired_load_balancer(spec, infos)


def lb_names(lb: str = LB) -> dict[str, list[str]]:
    """What one Cluster-policy load balancer consists of, as fake.names() shows it."""
    return {
        "addresses": [lb],
        "firewalls": sorted([f"k8s-fw-{lb}", SHARED_FW]),
        "forwardingRules": [lb],
        "httpHealthChecks": [SHARED_HC],
        "targetPools": [lb],
    }
