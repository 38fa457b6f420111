"""LoadBalancer -> the NLB it needs (`NlbSpec`): validation and desired state, no I/O.

Guarantees:
- every problem the user must fix is found here, before any AWS call, and
  named by its Service field: unsupported protocols (SCTP), one port number
  with two protocols but two node ports, more listeners than an NLB allows,
  a non-IPv4 Service; so an invalid Service never leaves a half-built NLB;
- one port number served over TCP and UDP becomes one TCP_UDP listener and
  target group, as the NLB requires;
- no rule opens more than asked: source ranges default to 0.0.0.0/0 only
  when the Service gives none, and node rules admit only the cluster's
  backend security group (attached to our NLBs alone), only on the node-port
  range and kube-proxy's health port.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lbcommon.desired import TCP_AND_UDP, node_port_problems, protocol_problems
from lbcommon.errors import InvalidServiceError, Problem
from lbcommon.model import (
    KUBE_PROXY_HEALTH_PORT,
    Backend,
    HealthCheck,
    LoadBalancer,
    Protocol,
    ServiceKey,
    SessionAffinity,
)
from lbctl.providers.aws import names
from lbctl.providers.common.names import lb_name

log = logging.getLogger(__name__)

#: Listeners per Network Load Balancer (AWS quota).
MAX_LISTENERS = 50
#: Kubernetes' default Service node-port range, which node groups admit
NODE_PORT_RANGE = (30000, 32767)
OPEN_TO_ALL = "0.0.0.0/0"


class TgProtocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    TCP_UDP = "TCP_UDP"

    @property
    def ip_protocols(self) -> tuple[str, ...]:
        """The EC2 security-group protocols this listener protocol needs."""
        return {"TCP": ("tcp",), "UDP": ("udp",), "TCP_UDP": ("tcp", "udp")}[self.value]


@dataclass(frozen=True, order=True)
class Target:
    instance_id: str
    port: int


@dataclass(frozen=True, order=True)
class CidrRule:
    """Ingress to the load balancer's security group from a client range."""

    ip_protocol: str
    port: int
    cidr: str


@dataclass(frozen=True, order=True)
class NodeRule:
    """Ingress to a node security group from the shared backend group."""

    ip_protocol: str
    low: int
    high: int


def node_rules(node_ports: tuple[int, int]) -> frozenset[NodeRule]:
    """What every node group admits from the backend group: node ports and kube-proxy.

    One range for all Services rather than one rule per node port: a security
    group holds 60 rules by default, and the NLBs forward only to ports their
    target groups name, so the range admits nothing a listener does not.
    """
    low, high = node_ports
    return frozenset(
        {
            NodeRule("tcp", low, high),
            NodeRule("udp", low, high),
            NodeRule("tcp", KUBE_PROXY_HEALTH_PORT, KUBE_PROXY_HEALTH_PORT),
        }
    )


@dataclass(frozen=True)
class PortSpec:
    """One listener and its target group."""

    port: int
    protocol: TgProtocol
    node_port: int
    tg_name: str


@dataclass(frozen=True)
class NlbSpec:
    key: ServiceKey
    uid: str
    name: str
    sg_name: str
    ports: tuple[PortSpec, ...]
    health: HealthCheck
    sticky: bool
    cidr_rules: frozenset[CidrRule]
    instances: tuple[str, ...]
    requested_ip: str | None
    tags: tuple[tuple[str, str], ...]

    def targets(self, port: PortSpec) -> frozenset[Target]:
        return frozenset(Target(i, port.node_port) for i in self.instances)


def nlb_spec(lb: LoadBalancer, *, cluster_id: str) -> NlbSpec:
    """The NLB `lb` asks for, or InvalidServiceError naming every bad field."""
    problems: list[Problem] = []
    if lb.ip_family != "IPv4":
        problems.append(
            Problem("spec.ipFamilies", f"{lb.ip_family} is not supported: the NLB is IPv4 only")
        )
    ports = _port_specs(lb, problems)
    if problems:
        raise InvalidServiceError(problems)
    ranges = [str(r) for r in lb.source_ranges] or [OPEN_TO_ALL]
    cidr_rules = frozenset(
        CidrRule(ip, p.port, cidr)
        for p in ports
        for ip in p.protocol.ip_protocols
        for cidr in ranges
    )
    return NlbSpec(
        key=lb.key,
        uid=lb.uid,
        name=lb_name(lb.uid),
        sg_name=names.sg_name(lb.uid),
        ports=ports,
        health=lb.health_check,
        sticky=lb.session_affinity is SessionAffinity.CLIENT_IP,
        cidr_rules=cidr_rules,
        instances=instance_ids(lb.key, lb.backends),
        requested_ip=lb.requested_ip,
        tags=tuple(sorted(names.ownership_tags(cluster_id, lb.key, lb.uid).items())),
    )


def _port_specs(lb: LoadBalancer, problems: list[Problem]) -> tuple[PortSpec, ...]:
    by_number: dict[int, list[tuple[int, Protocol, int]]] = {}
    problems += protocol_problems(lb, TCP_AND_UDP, by="an AWS Network Load Balancer")
    problems += node_port_problems(lb, by="an AWS Network Load Balancer (instance targets)")
    for index, port in enumerate(lb.ports):
        if port.protocol not in TCP_AND_UDP or port.node_port is None:
            continue
        by_number.setdefault(port.port, []).append((index, port.protocol, port.node_port))
    if len(by_number) > MAX_LISTENERS:
        problems.append(
            Problem(
                "spec.ports",
                f"{len(by_number)} ports, but an NLB has at most {MAX_LISTENERS} listeners",
            )
        )
    specs = [_merge(number, entries, lb.uid, problems) for number, entries in by_number.items()]
    return tuple(sorted((s for s in specs if s is not None), key=lambda s: s.port))


def _merge(
    number: int, entries: Sequence[tuple[int, Protocol, int]], uid: str, problems: list[Problem]
) -> PortSpec | None:
    """One listener per port number: TCP, UDP, or TCP_UDP when both are asked."""
    protocols = {protocol for _, protocol, _ in entries}
    node_ports = {node_port for _, _, node_port in entries}
    if len(entries) != len(protocols):
        problems.append(Problem(f"spec.ports[{entries[1][0]}]", f"port {number} is repeated"))
        return None
    if len(node_ports) > 1:
        problems.append(
            Problem(
                f"spec.ports[{entries[1][0]}].nodePort",
                f"port {number} is served over TCP and UDP, which an NLB does with one "
                "TCP_UDP target group, so both need the same nodePort "
                f"(got {', '.join(str(p) for p in sorted(node_ports))})",
            )
        )
        return None
    protocol = TgProtocol.TCP_UDP if len(protocols) == 2 else TgProtocol(entries[0][1].value)
    return PortSpec(
        port=number,
        protocol=protocol,
        node_port=entries[0][2],
        tg_name=names.tg_name(uid, protocol.value, number),
    )


def instance_ids(key: ServiceKey, backends: Iterable[Backend]) -> tuple[str, ...]:
    """EC2 instance ids of the backends; nodes without an AWS providerID are skipped."""
    ids: set[str] = set()
    skipped: list[str] = []
    for backend in backends:
        instance = names.instance_id(backend.provider_id)
        if instance is None:
            skipped.append(backend.name)
        else:
            ids.add(instance)
    if skipped:
        log.info(
            "skipping nodes without an AWS providerID: %s",
            ", ".join(skipped),
            extra={"service": key, "provider": "aws"},
        )
    return tuple(sorted(ids))
