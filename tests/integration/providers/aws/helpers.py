"""Building LoadBalancers for the aws provider tests the way the controller does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lbcommon.desired import desired_load_balancer
from lbcommon.model import (
    LoadBalancer,
    NodeInfo,
    SessionAffinity,
    TrafficPolicy,
)
from tests.fakes.aws import CLUSTER_ID, World, everything, provider_id
from tests.services import service_spec

UID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
LB_NAME = "a0b1c2d3e4f5061728394a5b6c7d8e9f"


def nodes_of(world: World, *, excluded: Sequence[str] = ()) -> list[NodeInfo]:
    return [
        NodeInfo(
            name=f"node-{index}",
            internal_ip=f"198.18.0.{10 + index}",
            zone=zone,
            provider_id=provider_id(zone, instance),
            excluded=instance in excluded,
        )
        for index, (zone, instance) in enumerate(world.instances)
    ]


def service_lb(
    world: World,
    *,
    uid: str = UID,
    name: str = "web",
    ports: Sequence[tuple[int, str, int]] = ((80, "TCP", 30080),),
    ranges: Sequence[str] = (),
    affinity: SessionAffinity = SessionAffinity.NONE,
    policy: TrafficPolicy = TrafficPolicy.CLUSTER,
    health_port: int | None = None,
    ip: str | None = None,
    nodes: Sequence[NodeInfo] | None = None,
    ip_families: tuple[str, ...] = ("IPv4",),
) -> LoadBalancer:
    spec = service_spec(
        uid=uid,
        name=name,
        ports=ports,
        ranges=ranges,
        affinity=affinity,
        policy=policy,
        health_port=health_port,
        ip=ip,
        ip_families=ip_families,
    )
    return desired_load_balancer(spec, nodes if nodes is not None else nodes_of(world))


def cloud(aws: tuple[Any, Any]) -> dict[str, Any]:
    return everything(*aws)


BACKEND = f"k8s-elb-backend-{CLUSTER_ID}"


def ours(state: dict[str, Any]) -> dict[str, int]:
    """How many per-Service resources moto holds (world and backend group excluded)."""
    return {
        "load_balancers": len(state["load_balancers"]),
        "target_groups": len(state["target_groups"]),
        "security_groups": len(
            [g for g in state["security_groups"] if g not in ("nodes", BACKEND)]
        ),
        "listeners": sum(len(lb["listeners"]) for lb in state["load_balancers"].values()),
    }


def backend_admitted(state: dict[str, Any]) -> None:
    """The cluster-level part: the backend group exists and only it is admitted by nodes."""
    backend = state["security_groups"][BACKEND]
    assert backend["tags"] == {
        f"kubernetes.io/cluster/{CLUSTER_ID}": "owned",
        "lbctl.io/role": "backend",
    }
    assert backend["ingress"] == set()
    assert state["security_groups"]["nodes"]["ingress"] == {
        ("tcp", "30000-32767", backend["id"]),
        ("udp", "30000-32767", backend["id"]),
        ("tcp", "10256", backend["id"]),
    }


def groups_of(state: dict[str, Any], lb_name: str) -> list[str]:
    """The security groups an NLB should carry: its own and the backend group."""
    own = state["security_groups"][f"k8s-elb-{lb_name}"]["id"]
    return sorted([own, state["security_groups"][BACKEND]["id"]])
