"""Services + Nodes + health + ownership -> DataplaneConfig: one pure function, no I/O.

Guarantees:
- Only Services of type LoadBalancer whose `status.loadBalancer.ingress` holds
  an IPv4 address inside our pools are served, and only on the IPs this
  instance owns. A Service that `lbcommon.desired.desired_load_balancer` rejects
  is skipped and named in `DataplaneConfig.problems`; it never gets a
  partial or wider configuration.
- A listener's backends are always eligible cluster nodes (InternalIP, never
  anything taken from a Service), so nodeproxy can never become an open proxy.
- Backends are the healthy ones; when none is healthy every eligible node is
  used (fail open, as a GCE target pool does), since dropping everything helps
  nobody. Backends whose MAC address is unknown cannot be reached at layer 2
  and are left out.
- `slot_table` maps hash slots to backends by rendezvous hashing: removing a
  backend moves only its own slots, adding one takes about 1/n of them, and
  every instance computes the same table, so a takeover keeps flows in place.
- If two Services claim the same IP, protocol and port, the one with the
  smaller key wins and the other is reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address

from lbcommon.desired import TCP_AND_UDP, desired_load_balancer, protocol_problems
from lbcommon.errors import InvalidServiceError
from lbcommon.model import (
    LoadBalancer,
    NodeInfo,
    Protocol,
    ServiceKey,
    ServiceSpec,
    SessionAffinity,
)
from lbcommon.pools import Pool

#: hash slots per listener; a power of two keeps the modulo cheap and fair
SLOTS = 256


@dataclass(frozen=True, order=True)
class HealthTarget:
    """One HTTP health check: GET http://address:port/path must answer 200."""

    address: IPv4Address
    port: int
    path: str = "/healthz"

    def __str__(self) -> str:
        return f"{self.address}:{self.port}{self.path}"


@dataclass(frozen=True, order=True)
class NodeBackend:
    """An eligible node that receives a listener's packets unchanged (at layer 2)."""

    name: str
    address: IPv4Address
    mac: str
    health: HealthTarget


@dataclass(frozen=True)
class Listener:
    """One (LB IP, protocol, port) and where its packets may go."""

    service: ServiceKey
    ip: IPv4Address
    protocol: Protocol
    port: int
    #: empty means every source is allowed
    source_ranges: tuple[IPv4Network, ...]
    #: ClientIP affinity timeout in seconds, None without affinity
    affinity_timeout: int | None
    #: where new flows go, in name order
    backends: tuple[NodeBackend, ...]
    #: MACs of backends that failed their checks: their UDP flows and affinity
    #: entries are dropped so those clients move; TCP connections drain
    evicted: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """A stable identifier usable in nftables object names."""
        return f"{str(self.ip).replace('.', '_')}_{self.protocol.value.lower()}_{self.port}"

    def slot_table(self) -> tuple[str, ...]:
        """The backend MAC for each of the SLOTS hash slots (empty without backends)."""
        if not self.backends:
            return ()
        return tuple(
            max(self.backends, key=lambda b: _score(self.name, slot, b.name)).mac
            for slot in range(SLOTS)
        )


@dataclass(frozen=True)
class DataplaneConfig:
    listeners: tuple[Listener, ...] = ()
    #: Services skipped, with the reason (for logs; the controller raises the events)
    problems: tuple[str, ...] = ()

    @property
    def ips(self) -> frozenset[IPv4Address]:
        return frozenset(listener.ip for listener in self.listeners)


def _score(listener: str, slot: int, backend: str) -> bytes:
    return hashlib.blake2b(f"{listener}/{slot}/{backend}".encode(), digest_size=8).digest()


def service_ips(spec: ServiceSpec, pools: Sequence[Pool]) -> tuple[IPv4Address, ...]:
    """The Service's IPv4 ingress addresses that lie in one of `pools`."""
    if spec.type != "LoadBalancer" or spec.deleting:
        return ()
    found: list[IPv4Address] = []
    for ingress in spec.ingress:
        try:
            addr = ip_address(ingress.ip or "")
        except ValueError:
            continue
        if isinstance(addr, IPv4Address) and any(addr in pool for pool in pools):
            found.append(addr)
    return tuple(dict.fromkeys(found))


def served(
    services: Iterable[ServiceSpec], pools: Sequence[Pool]
) -> list[tuple[ServiceSpec, tuple[IPv4Address, ...]]]:
    """The Services nodeproxy serves with their IPs, in key order."""
    result = []
    for spec in sorted(services, key=lambda s: s.key):
        ips = service_ips(spec, pools)
        if ips:
            result.append((spec, ips))
    return result


def all_ips(services: Iterable[ServiceSpec], pools: Sequence[Pool]) -> frozenset[IPv4Address]:
    """Every address some served Service uses: what the announcer distributes."""
    return frozenset(ip for _, ips in served(services, pools) for ip in ips)


def _health_target(lb: LoadBalancer, node_ip: IPv4Address) -> HealthTarget:
    return HealthTarget(address=node_ip, port=lb.health_check.port, path=lb.health_check.path)


def _node_addresses(nodes: Iterable[NodeInfo]) -> dict[str, IPv4Address]:
    addresses: dict[str, IPv4Address] = {}
    for node in nodes:
        try:
            addr = ip_address(node.internal_ip or "")
        except ValueError:
            continue
        if isinstance(addr, IPv4Address):
            addresses[node.name] = addr
    return addresses


def served_load_balancer(spec: ServiceSpec, nodes: Iterable[NodeInfo]) -> LoadBalancer:
    """The Service's load balancer as nodeproxy carries it: TCP and UDP only."""
    lb = desired_load_balancer(spec, nodes)
    problems = protocol_problems(lb, TCP_AND_UDP, by="nodeproxy")
    if problems:
        raise InvalidServiceError(problems)
    return lb


def health_targets(
    services: Iterable[ServiceSpec], nodes: Iterable[NodeInfo], pools: Sequence[Pool]
) -> frozenset[HealthTarget]:
    """Every check the served Services need, on every eligible node.

    All of them, not only those of the IPs this instance owns, so an instance
    that takes an IP over already knows which backends are healthy.
    """
    nodes = list(nodes)
    addresses = _node_addresses(nodes)
    targets: set[HealthTarget] = set()
    for spec, _ in served(services, pools):
        try:
            lb = served_load_balancer(spec, nodes)
        except InvalidServiceError:
            continue
        for backend in lb.backends:
            if backend.name in addresses and lb.health_check.port:
                targets.add(_health_target(lb, addresses[backend.name]))
    return frozenset(targets)


def build_config(
    *,
    services: Iterable[ServiceSpec],
    nodes: Iterable[NodeInfo],
    pools: Sequence[Pool],
    owned: Collection[IPv4Address],
    health: Mapping[HealthTarget, bool],
    macs: Mapping[IPv4Address, str],
) -> DataplaneConfig:
    """The data plane this instance should run now.

    `health` maps a check to its last verdict (absent: not checked yet);
    `macs` maps node addresses to their link-layer addresses.
    """
    nodes = list(nodes)
    addresses = _node_addresses(nodes)
    listeners: dict[tuple[IPv4Address, Protocol, int], Listener] = {}
    problems: list[str] = []
    for spec, ips in served(services, pools):
        mine = [ip for ip in ips if ip in owned]
        if not mine:
            continue
        try:
            lb = served_load_balancer(spec, nodes)
        except InvalidServiceError as err:
            problems.append(f"{spec.key}: {err}")
            continue
        backends, evicted = _backends(lb, addresses, health, macs)
        ranges = tuple(r for r in lb.source_ranges if isinstance(r, IPv4Network))
        if len(ranges) != len(lb.source_ranges):
            problems.append(f"{spec.key}: IPv6 source ranges cannot apply to IPv4 traffic")
        affinity = lb.affinity_timeout if lb.session_affinity is SessionAffinity.CLIENT_IP else None
        for ip in mine:
            for port in lb.ports:
                slot = (ip, port.protocol, port.port)
                if slot in listeners:
                    problems.append(
                        f"{spec.key}: {ip} {port.protocol.value}/{port.port} is already "
                        f"served for {listeners[slot].service}"
                    )
                    continue
                listeners[slot] = Listener(
                    service=spec.key,
                    ip=ip,
                    protocol=port.protocol,
                    port=port.port,
                    source_ranges=ranges,
                    affinity_timeout=affinity,
                    backends=backends,
                    evicted=evicted,
                )
    ordered = tuple(listeners[k] for k in sorted(listeners, key=lambda k: (k[0], k[1].value, k[2])))
    return DataplaneConfig(listeners=ordered, problems=tuple(problems))


def _backends(
    lb: LoadBalancer,
    addresses: Mapping[str, IPv4Address],
    health: Mapping[HealthTarget, bool],
    macs: Mapping[IPv4Address, str],
) -> tuple[tuple[NodeBackend, ...], frozenset[str]]:
    reachable = [
        NodeBackend(
            name=b.name,
            address=addresses[b.name],
            mac=macs[addresses[b.name]],
            health=_health_target(lb, addresses[b.name]),
        )
        for b in lb.backends
        if b.name in addresses and addresses[b.name] in macs
    ]
    healthy = tuple(b for b in reachable if health.get(b.health) is True)
    if not healthy:
        return tuple(reachable), frozenset()
    failed = frozenset(b.mac for b in reachable if health.get(b.health) is False)
    return healthy, failed
