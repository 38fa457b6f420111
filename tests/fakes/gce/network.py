"""The GCE fake's data plane: a network namespace that forwards like GCE's
target-pool network load balancer, from the fake's state.

What GCE does, and what this does with the fake's resources (a snapshot
every `poll` seconds):
- a forwarding rule's IP is reachable from outside: packets for its
  protocol and port range arriving on the router's outside interface
  (`ingress`) go to an instance of its target pool **unchanged** but for the
  Ethernet header (client and destination IP kept, as GCE delivers them),
  out of the router's node-side interface (`egress`); replies go from the
  instance to the client directly;
- the pool's legacy HTTP health check (port, requestPath) decides which
  instances are healthy, probed from the router; a pool without a check
  treats every instance as healthy, and when none is healthy every instance
  gets traffic (GCE's fail-open);
- `sessionAffinity` CLIENT_IP keeps a client on one instance;
- firewall rules filter what reaches the instances: an instance is a target
  of a forwarding rule's port only if an enabled INGRESS rule on the fake's
  network allows that protocol and port for one of its tags (or for every
  instance, without targetTags) and, if the rule has destinationRanges, for
  the forwarding rule's IP (GCE delivers packets addressed to it); the
  rule's sourceRanges are the only clients admitted. Per instance rules that
  differ in their source ranges are merged per port (the union), a
  simplification nodeproxy's per-listener ranges force, and health-check
  probes are not subject to firewalls (GCE's come from its own ranges, which
  the node rule admits).

The forwarding itself is nodeproxy's engine (`nodeproxy.nft`, one listener
per forwarding-rule port), with its egress on another interface than its
ingress. Test infrastructure only: it lives with the fake, never in lbctl.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from lbcommon.model import Protocol, ServiceKey
from nodeproxy.config import DataplaneConfig, HealthTarget, Listener, NodeBackend
from nodeproxy.dataplane import Dataplane, interface_mac, link_layer_addresses
from nodeproxy.nft import RenderSettings
from tests.fakes.gce.fake import GCEFake
from tests.fakes.polling import PollingNetwork

log = logging.getLogger(__name__)

JSON = dict[str, Any]
#: open ports of a forwarding rule beyond this many are refused (one nft listener each)
MAX_PORTS = 64
#: CLIENT_IP affinity has no timeout on GCE; nodeproxy's map needs one
AFFINITY_SECONDS = 24 * 3600
TABLE = "lbctl_gce_network"


@dataclass(frozen=True)
class Instance:
    name: str
    address: IPv4Address
    tags: frozenset[str]


@dataclass(frozen=True)
class FirewallRule:
    sources: tuple[IPv4Network, ...]
    tags: frozenset[str]  # empty: every instance
    allowed: tuple[tuple[str, int, int], ...]  # (protocol, first, last)
    destinations: tuple[IPv4Network, ...] = ()  # empty: any destination

    def reaches(self, destination: IPv4Address) -> bool:
        return not self.destinations or any(destination in d for d in self.destinations)

    def admits(
        self, protocol: str, port: int, instance: Instance, destination: IPv4Address
    ) -> bool:
        if self.tags and not self.tags & instance.tags:
            return False
        if not self.reaches(destination):
            return False
        return any(
            proto in (protocol, "all") and first <= port <= last
            for proto, first, last in self.allowed
        )


def _instances(resources: Mapping[str, JSON]) -> dict[str, Instance]:
    """Instances by selfLink."""
    found = {}
    for body in resources.values():
        nics = body.get("networkInterfaces") or []
        if not nics or not nics[0].get("networkIP"):
            continue
        found[body["selfLink"]] = Instance(
            name=body["name"],
            address=IPv4Address(nics[0]["networkIP"]),
            tags=frozenset((body.get("tags") or {}).get("items") or ()),
        )
    return found


def _ports(spec: str | None) -> tuple[int, int]:
    first, _, last = (spec or "1-65535").partition("-")
    return int(first), int(last or first)


def _firewalls(resources: Mapping[str, JSON], network: str) -> list[FirewallRule]:
    rules = []
    for body in resources.values():
        if body.get("disabled") or body.get("direction", "INGRESS") != "INGRESS":
            continue
        if not str(body.get("network", "")).endswith(f"/networks/{network}"):
            continue
        allowed = []
        for entry in body.get("allowed") or []:
            for spec in entry.get("ports") or ["1-65535"]:
                first, last = _ports(spec)
                allowed.append((str(entry["IPProtocol"]).lower(), first, last))
        rules.append(
            FirewallRule(
                sources=_networks(body.get("sourceRanges")),
                tags=frozenset(body.get("targetTags") or ()),
                allowed=tuple(allowed),
                destinations=_networks(body.get("destinationRanges")),
            )
        )
    return rules


def _networks(ranges: list[str] | None) -> tuple[IPv4Network, ...]:
    networks = (ipaddress.ip_network(r, strict=False) for r in ranges or [])
    return tuple(n for n in networks if isinstance(n, IPv4Network))


def _open_ports(
    firewalls: list[FirewallRule],
    protocol: str,
    ports: tuple[int, int],
    members: list[Instance],
    destination: IPv4Address,
) -> list[int]:
    """The ports of first..last that a firewall rule opens to `destination` on one of
    `members`."""
    first, last = ports
    found: set[int] = set()
    for fw in firewalls:
        if fw.tags and not any(fw.tags & m.tags for m in members):
            continue
        if not fw.reaches(destination):
            continue
        for proto, low, high in fw.allowed:
            if proto in (protocol, "all"):
                found.update(range(max(low, first), min(high, last) + 1))
    return sorted(found)


@dataclass(frozen=True)
class Plan:
    """What the fake's state asks of the network: listeners still to be given
    backends, and the health checks they need."""

    listeners: tuple[tuple[Listener, tuple[tuple[Instance, HealthTarget | None], ...]], ...]
    problems: tuple[str, ...]

    @property
    def health_targets(self) -> frozenset[HealthTarget]:
        return frozenset(t for _, pairs in self.listeners for _, t in pairs if t is not None)


def plan(snapshot: Mapping[str, Mapping[str, JSON]], *, network: str = "default") -> Plan:
    """The fake's snapshot as listeners (one per forwarding-rule port), pure."""
    instances = _instances(snapshot.get("instances", {}))
    firewalls = _firewalls(snapshot.get("firewalls", {}), network)
    pools = {body["selfLink"]: body for body in snapshot.get("targetPools", {}).values()}
    checks = {body["selfLink"]: body for body in snapshot.get("httpHealthChecks", {}).values()}
    listeners = []
    problems = []
    for rule in snapshot.get("forwardingRules", {}).values():
        pool = pools.get(str(rule.get("target", "")))
        protocol = str(rule.get("IPProtocol", "TCP")).upper()
        if pool is None or protocol not in ("TCP", "UDP"):
            problems.append(f"{rule['name']}: no target pool or protocol {protocol}")
            continue
        first, last = _ports(rule.get("portRange"))
        check = checks.get(next(iter(pool.get("healthChecks") or []), ""))
        members = [instances[url] for url in pool.get("instances") or [] if url in instances]
        affinity = AFFINITY_SECONDS if pool.get("sessionAffinity") == "CLIENT_IP" else None
        # A rule forwards its whole range (upstream's 80-8081 for ports 80 and
        # 8081), but only ports some firewall opens on a member get through.
        ip = IPv4Address(rule["IPAddress"])
        ports = _open_ports(firewalls, protocol.lower(), (first, last), members, ip)
        if len(ports) > MAX_PORTS:
            problems.append(f"{rule['name']}: {len(ports)} open ports (at most {MAX_PORTS})")
            continue
        for port in ports:
            admitting = [
                (
                    instance,
                    [fw for fw in firewalls if fw.admits(protocol.lower(), port, instance, ip)],
                )
                for instance in members
            ]
            sources = sorted(
                {src for _, fws in admitting for fw in fws for src in fw.sources},
                key=lambda n: (int(n.network_address), n.prefixlen),
            )
            reachable = tuple(
                (
                    instance,
                    HealthTarget(
                        instance.address, int(check.get("port", 80)), check.get("requestPath", "/")
                    )
                    if check
                    else None,
                )
                for instance, fws in admitting
                if fws
            )
            listener = Listener(
                service=ServiceKey(f"gce/{rule['name']}"),
                ip=ip,
                protocol=Protocol(protocol),
                port=port,
                # No admitting rule: nothing reaches any instance (GCE denies
                # ingress by default); 0.0.0.0/32 admits no real client.
                source_ranges=tuple(sources) or (IPv4Network("0.0.0.0/32"),),
                affinity_timeout=affinity,
                backends=(),
            )
            listeners.append((listener, reachable))
    return Plan(listeners=tuple(listeners), problems=tuple(problems))


def with_backends(
    plan_: Plan, health: Mapping[HealthTarget, bool], macs: Mapping[IPv4Address, str]
) -> DataplaneConfig:
    """Give each listener its healthy instances (all of them when none is healthy)."""
    listeners = []
    for listener, pairs in plan_.listeners:
        known = [
            (
                NodeBackend(
                    name=instance.name,
                    address=instance.address,
                    mac=macs[instance.address],
                    health=target or HealthTarget(instance.address, 0, "/"),
                ),
                target is None or health.get(target) is True,
            )
            for instance, target in pairs
            if instance.address in macs
        ]
        healthy = [backend for backend, ok in known if ok]
        chosen = healthy or [backend for backend, _ in known]
        listeners.append(replace(listener, backends=tuple(sorted(chosen, key=lambda b: b.name))))
    return DataplaneConfig(listeners=tuple(listeners), problems=plan_.problems)


class GceNetwork(PollingNetwork):
    """Runs the plan in `namespace` until stopped (the router between the
    outside network and the instances)."""

    def __init__(
        self,
        fake: GCEFake,
        *,
        namespace: str,
        ingress: str,
        egress: str,
        network: str = "default",
        poll: float = 0.2,
    ) -> None:
        self._fake = fake
        super().__init__(namespace=namespace, poll=poll, name="gce-network")
        self._ns = namespace
        self._egress = egress
        self._network = network
        mac = interface_mac(egress, namespace=namespace)
        self._mac = mac
        settings = RenderSettings(interface=ingress, mac=mac, egress=egress, table=TABLE)
        self.dataplane = Dataplane(settings, namespace=namespace)
        self.config = DataplaneConfig()

    def clear(self) -> None:
        self.dataplane.close()

    def sync(self) -> DataplaneConfig:
        """Read the fake, check health, program the kernel; the config applied."""
        wanted = plan(self._fake.snapshot(), network=self._network)
        self.health.set_targets(wanted.health_targets)
        macs = link_layer_addresses(self._egress, self._mac, namespace=self._ns)
        config = with_backends(wanted, self.health.snapshot(), macs)
        self.dataplane.apply(config)
        self.config = config
        return config
