"""LoadBalancer -> what the gce provider must build: pure, all validation here.

Guarantees:
- `load_balancer_spec` either returns a complete `LbSpec` or raises
  InvalidServiceError naming every problem by its field, before any API call,
  so bad input never leaves a half-built load balancer;
- what a target-pool load balancer cannot serve is refused, not approximated:
  mixed protocols (one forwarding rule carries one protocol; upstream adds the
  `LoadBalancerPortsError` condition for this, see `MixedProtocolError`),
  protocols other than TCP/UDP, IPv6, an unknown network tier, and a request
  for an internal load balancer (building a public one instead would open
  more than was asked);
- backends map to instance references through `spec.providerID`; nodes that
  are not GCE instances of this region are listed in `skipped`, never guessed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from lbcommon.desired import TCP_AND_UDP, node_port_problems, protocol_problems
from lbcommon.errors import InvalidServiceError, Problem, StatusCondition
from lbcommon.model import LoadBalancer, Protocol, ServiceKey, SessionAffinity
from lbctl.providers.common.names import lb_name
from lbctl.providers.gce import names
from lbctl.providers.gce.names import Ref

NETWORK_TIER_ANNOTATION = "cloud.google.com/network-tier"
LB_TYPE_ANNOTATIONS = (
    "networking.gke.io/load-balancer-type",
    "cloud.google.com/load-balancer-type",
)
EXTERNAL_TYPES = frozenset({"External", "external"})
#: where Google's L4 health checkers and legacy target-pool probes come from
#: (upstream's L4 ranges; the last two serve legacy HTTP health checks)
HEALTH_CHECK_RANGES = ("130.211.0.0/22", "35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22")
HEALTH_CHECK_PATH = "/healthz"
#: GCE takes at most this many ports or ranges per firewall `allowed` entry
MAX_FIREWALL_PORT_ENTRIES = 100


class Tier(StrEnum):
    PREMIUM = "PREMIUM"
    STANDARD = "STANDARD"


#: the annotation values upstream accepts, exactly (so Services migrate unchanged)
TIER_VALUES = {"Premium": Tier.PREMIUM, "Standard": Tier.STANDARD}
AFFINITY = {SessionAffinity.NONE: "NONE", SessionAffinity.CLIENT_IP: "CLIENT_IP"}


class MixedProtocolError(InvalidServiceError):
    """Mixed protocols on one Service: upstream also sets this status condition."""

    condition = StatusCondition(
        type="LoadBalancerPortsError",
        reason="LoadBalancerMixedProtocolNotSupported",
        message="LoadBalancer with multiple protocols are not supported",
    )


@dataclass(frozen=True)
class HealthCheckSpec:
    """The legacy HTTP health check a target pool uses (upstream's parameters)."""

    name: str
    port: int
    shared: bool
    path: str = HEALTH_CHECK_PATH
    interval: int = 8
    timeout: int = 1
    healthy: int = 1
    unhealthy: int = 3

    @property
    def firewall(self) -> str:
        return names.health_check_firewall_name(self.name, shared=self.shared)


@dataclass(frozen=True)
class LbSpec:
    """Everything one Service's load balancer needs, in GCE terms."""

    name: str
    key: ServiceKey
    uid: str
    protocol: Protocol
    ports: tuple[int, ...]
    source_ranges: tuple[str, ...]
    requested_ip: str | None
    tier: Tier
    affinity: str
    health_check: HealthCheckSpec
    instances: tuple[Ref, ...]
    skipped: tuple[str, ...] = ()

    @property
    def port_range(self) -> str:
        """What the forwarding rule forwards: min-max of the Service ports."""
        return f"{min(self.ports)}-{max(self.ports)}"

    @property
    def firewall_ports(self) -> tuple[str, ...]:
        return collapse_ports(self.ports)

    @property
    def pools(self) -> tuple[str, str]:
        return names.pool_names(self.name)


def collapse_ports(ports: tuple[int, ...]) -> tuple[str, ...]:
    """Sorted ports as firewall entries, runs of consecutive ports as `a-b`."""
    runs: list[list[int]] = []
    for port in sorted(set(ports)):
        if runs and port == runs[-1][1] + 1:
            runs[-1][1] = port
        else:
            runs.append([port, port])
    return tuple(str(first) if first == last else f"{first}-{last}" for first, last in runs)


def network_tier(lb: LoadBalancer) -> tuple[Tier, Problem | None]:
    raw = lb.option(NETWORK_TIER_ANNOTATION)
    if raw is None:
        return Tier.PREMIUM, None
    tier = TIER_VALUES.get(raw)
    if tier is None:
        field = f"metadata.annotations[{NETWORK_TIER_ANNOTATION}]"
        return Tier.PREMIUM, Problem(
            field, f"{raw!r} is not a network tier (use Premium or Standard)"
        )
    return tier, None


def _type_problems(lb: LoadBalancer) -> list[Problem]:
    problems: list[Problem] = []
    for key in LB_TYPE_ANNOTATIONS:
        value = lb.option(key)
        if value is not None and value not in EXTERNAL_TYPES:
            problems.append(
                Problem(
                    f"metadata.annotations[{key}]",
                    f"{value!r} is not supported: the gce provider builds only external "
                    "target-pool load balancers",
                )
            )
    return problems


def _protocol(lb: LoadBalancer, problems: list[Problem]) -> tuple[Protocol, bool]:
    """The one protocol of the Service; True when ports mix protocols."""
    problems += protocol_problems(lb, TCP_AND_UDP, by="GCE target pools")
    protocols = sorted({p.protocol for p in lb.ports})
    if len(protocols) > 1:
        problems.append(
            Problem(
                "spec.ports",
                f"mixed protocols ({', '.join(protocols)}) are not supported: a GCE "
                "forwarding rule carries one protocol",
            )
        )
        return protocols[0], True
    return (protocols[0] if protocols else Protocol.TCP), False


def _address_problems(lb: LoadBalancer) -> list[Problem]:
    problems: list[Problem] = []
    if lb.ip_family != "IPv4":
        problems.append(Problem("spec.ipFamilies", "GCE target pools serve IPv4 only"))
    if lb.requested_ip is not None:
        try:
            if ipaddress.ip_address(lb.requested_ip).version != 4:
                problems.append(Problem("spec.loadBalancerIP", "GCE target pools serve IPv4 only"))
        except ValueError:
            problems.append(Problem("spec.loadBalancerIP", f"{lb.requested_ip!r} is not an IP"))
    return problems


def _instances(lb: LoadBalancer, region: str) -> tuple[tuple[Ref, ...], tuple[str, ...]]:
    refs: set[Ref] = set()
    skipped: list[str] = []
    for backend in lb.backends:
        ref = names.instance_ref(backend.provider_id)
        if ref is None or ref.zone is None or names.region_of_zone(ref.zone) != region:
            skipped.append(backend.name)
            continue
        refs.add(ref)
    return tuple(sorted(refs)), tuple(skipped)


def load_balancer_spec(lb: LoadBalancer, *, region: str, cluster_id: str) -> LbSpec:
    """Translate `lb`, or raise InvalidServiceError (MixedProtocolError for mixing)."""
    problems = _type_problems(lb)
    # A target pool delivers to the forwarding rule's IP, not to node ports, so
    # it could serve without them; the provider refuses, as CONFORMANCE.md's
    # LB-12 expects of gce, until a conformance column with real traffic
    # (issue 13) proves the other way on the fake's data plane.
    problems += node_port_problems(lb, by="the gce provider")
    protocol, mixed = _protocol(lb, problems)
    tier, tier_problem = network_tier(lb)
    if tier_problem is not None:
        problems.append(tier_problem)
    problems += _address_problems(lb)
    if not lb.ports:
        problems.append(Problem("spec.ports", "a load balancer needs at least one port"))
    ports = tuple(sorted({p.port for p in lb.ports}))
    if len(collapse_ports(ports)) > MAX_FIREWALL_PORT_ENTRIES:
        problems.append(
            Problem(
                "spec.ports",
                f"more than {MAX_FIREWALL_PORT_ENTRIES} separate ports or port ranges do not "
                "fit one GCE firewall rule",
            )
        )
    if problems:
        raise (MixedProtocolError if mixed else InvalidServiceError)(problems)
    name = lb_name(lb.uid)
    if lb.health_check.per_service:
        check = HealthCheckSpec(name=name, port=lb.health_check.port, shared=False)
    else:
        check = HealthCheckSpec(
            name=names.shared_health_check_name(cluster_id), port=lb.health_check.port, shared=True
        )
    instances, skipped = _instances(lb, region)
    return LbSpec(
        name=name,
        key=lb.key,
        uid=lb.uid,
        protocol=protocol,
        ports=ports,
        source_ranges=tuple(str(r) for r in lb.source_ranges) or ("0.0.0.0/0",),
        requested_ip=lb.requested_ip,
        tier=tier,
        affinity=AFFINITY[lb.session_affinity],
        health_check=check,
        instances=instances,
        skipped=skipped,
    )
