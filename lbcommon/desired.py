"""Service + Nodes -> the desired LoadBalancer: one pure function, no I/O.

This is where user input is judged. Every problem is collected (not just the
first) and named by its field, so one Warning event tells the user all they
must fix. Nothing here ever widens access beyond what was asked: a source
range that cannot be applied exactly is an error, never dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lbcommon.errors import InvalidServiceError, Problem
from lbcommon.model import (
    KUBE_PROXY_HEALTH_PORT,
    OWNER_ANNOTATION,
    SOURCE_RANGES_ANNOTATION,
    Backend,
    FrontendPort,
    HealthCheck,
    IPNetwork,
    LoadBalancer,
    NodeInfo,
    Protocol,
    ServiceSpec,
    TrafficPolicy,
)


@dataclass(frozen=True)
class ClassPolicy:
    """Which Services this controller instance serves."""

    load_balancer_class: str
    #: also serve LoadBalancer Services without a loadBalancerClass
    default_class: bool = False

    def serves(self, spec: ServiceSpec) -> bool:
        if spec.type != "LoadBalancer":
            return False
        if spec.load_balancer_class is None:
            return self.default_class
        return spec.load_balancer_class == self.load_balancer_class


def eligible_backends(nodes: Iterable[NodeInfo]) -> tuple[Backend, ...]:
    """Nodes that may receive traffic, in name order (stable diffs)."""
    return tuple(
        Backend(name=n.name, address=n.internal_ip or "", zone=n.zone, provider_id=n.provider_id)
        for n in sorted(nodes, key=lambda n: n.name)
        if n.eligible
    )


def parse_source_ranges(spec: ServiceSpec) -> tuple[tuple[IPNetwork, ...], list[Problem]]:
    """The Service's source ranges; the field wins over the deprecated annotation."""
    if spec.source_ranges:
        return _parse_ranges(spec.source_ranges, "spec.loadBalancerSourceRanges", spec)
    raw = spec.source_ranges_annotation
    if raw is None or not raw.strip():
        return (), []
    field = f"metadata.annotations[{SOURCE_RANGES_ANNOTATION}]"
    items = [item.strip() for item in raw.split(",")]
    return _parse_ranges(items, field, spec)


def _parse_ranges(
    items: Sequence[str], field: str, spec: ServiceSpec
) -> tuple[tuple[IPNetwork, ...], list[Problem]]:
    ranges: list[IPNetwork] = []
    problems: list[Problem] = []
    families = {4 if f == "IPv4" else 6 for f in spec.ip_families}
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        text = item.strip()
        if not text:
            problems.append(Problem(where, "empty item"))
            continue
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError:
            try:
                masked = ipaddress.ip_network(text, strict=False)
            except ValueError:
                problems.append(Problem(where, f"{text!r} is not a CIDR"))
                continue
            problems.append(
                Problem(where, f"{text!r} has host bits set; did you mean {masked} or a /32?")
            )
            continue
        if network.version not in families:
            problems.append(
                Problem(
                    where,
                    f"{text} is IPv{network.version} but the Service is "
                    f"{'/'.join(spec.ip_families)}: it cannot be enforced",
                )
            )
            continue
        ranges.append(network)
    return tuple(sorted(set(ranges), key=lambda n: (n.version, n))), problems


#: TCP and UDP: what nodeproxy, GCE target pools and AWS NLBs each forward
TCP_AND_UDP = frozenset({Protocol.TCP, Protocol.UDP})


def protocol_problems(
    lb: LoadBalancer, supported: frozenset[Protocol], *, by: str
) -> list[Problem]:
    """A Problem for each port whose protocol the data plane named `by` cannot carry.

    `desired_load_balancer` takes every protocol the API allows: which ones a
    load balancer can carry is each provider's to say, in its own spec.
    """
    allowed = " or ".join(sorted(p.value for p in supported))
    return [
        Problem(
            f"spec.ports[{index}].protocol",
            f"{port.protocol} is not supported by {by} (use {allowed})",
        )
        for index, port in enumerate(lb.ports)
        if port.protocol not in supported
    ]


def node_port_problems(lb: LoadBalancer, *, by: str) -> list[Problem]:
    """A Problem for each port without a node port, for providers that target node ports.

    `desired_load_balancer` accepts `allocateLoadBalancerNodePorts: false`:
    nodeproxy delivers to the ingress IP itself (kube-proxy's VIP rules take it
    from there), so only providers whose load balancers forward to node ports
    refuse it, in their own spec.
    """
    return [
        Problem(
            f"spec.ports[{index}].nodePort",
            f"no node port allocated, but {by} forwards to node ports: "
            "spec.allocateLoadBalancerNodePorts must not be false",
        )
        for index, port in enumerate(lb.ports)
        if port.node_port is None
    ]


def desired_load_balancer(spec: ServiceSpec, nodes: Iterable[NodeInfo]) -> LoadBalancer:
    """Build the LoadBalancer `spec` asks for, or raise InvalidServiceError."""
    problems: list[Problem] = []
    if not spec.ports:
        problems.append(Problem("spec.ports", "a load balancer needs at least one port"))
    frontends: list[FrontendPort] = []
    for port in spec.ports:
        frontends.append(
            FrontendPort(
                protocol=port.protocol, port=port.port, node_port=port.node_port, name=port.name
            )
        )
    ranges, range_problems = parse_source_ranges(spec)
    problems += range_problems
    if spec.load_balancer_ip is not None:
        try:
            ipaddress.ip_address(spec.load_balancer_ip)
        except ValueError:
            problems.append(
                Problem("spec.loadBalancerIP", f"{spec.load_balancer_ip!r} is not an IP address")
            )
    health = _health_check(spec, problems)
    if problems:
        raise InvalidServiceError(problems)
    return LoadBalancer(
        key=spec.key,
        uid=spec.uid,
        ports=tuple(frontends),
        backends=eligible_backends(nodes),
        health_check=health,
        requested_ip=spec.load_balancer_ip,
        source_ranges=ranges,
        traffic_policy=spec.external_traffic_policy,
        session_affinity=spec.session_affinity,
        affinity_timeout=spec.affinity_timeout,
        ip_family=spec.ip_families[0] if spec.ip_families else "IPv4",
        # Our own ownership mark is bookkeeping, not a request: claiming a
        # Service must not read as a change of its load balancer.
        options=tuple((k, v) for k, v in spec.annotations if k != OWNER_ANNOTATION),
    )


def _health_check(spec: ServiceSpec, problems: list[Problem]) -> HealthCheck:
    if spec.external_traffic_policy is TrafficPolicy.LOCAL:
        if spec.health_check_node_port is None:
            problems.append(
                Problem("spec.healthCheckNodePort", "externalTrafficPolicy Local needs one")
            )
            return HealthCheck(port=0, per_service=True)
        return HealthCheck(port=spec.health_check_node_port, per_service=True)
    return HealthCheck(port=KUBE_PROXY_HEALTH_PORT)
