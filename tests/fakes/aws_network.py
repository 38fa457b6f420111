"""moto's data plane: a network namespace that forwards like an AWS Network Load
Balancer with instance targets, from what moto holds.

What an NLB does, and what this does with moto's resources (read every
`poll` seconds through the same boto3 clients the provider uses):
- each NLB has an address the client reaches: its Elastic IP when the
  provider mapped one (it must lie in 198.18.0.0/15, as the harness
  allocates them), else one this data plane assigns from `dns_pool` to its
  DNS name (`address_of(dns_name)`; a harness resolves the name with it);
- a listener's packets (TCP, UDP, or both for TCP_UDP) arriving on the
  router's outside interface are DNATed to a healthy registered target,
  instance IP and target port (the node port), **keeping the client's source
  address**, as instance targets do; replies come back through the router,
  whose conntrack restores the NLB's address;
- the target group's health check (HTTP: port, or the traffic port, and
  path) decides which targets are healthy, probed from the router; when
  none is, every target gets traffic (the NLB's fail-open);
- `stickiness.type` source_ip keeps a client on one target;
- the NLB's security groups filter clients: only sources in an ingress rule
  for the listener's protocol and port connect (an NLB without security
  groups admits everyone, as AWS does).

Test infrastructure only: it lives with the fakes, never in lbctl.
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from nodeproxy.config import HealthTarget
from tests.fakes.polling import PollingNetwork

log = logging.getLogger(__name__)

TABLE = "lbctl_aws_network"
SAFE = IPv4Network("198.18.0.0/15")
HASH_SEED = 0x6177


@dataclass(frozen=True)
class Target:
    address: IPv4Address
    port: int
    health: HealthTarget | None  # None: no HTTP check (always healthy)


@dataclass(frozen=True)
class NlbListener:
    """One NLB address, protocol and port, and where its packets may go."""

    name: str
    address: IPv4Address
    protocol: str  # "tcp" or "udp"
    port: int
    sources: tuple[IPv4Network, ...]  # empty: everyone
    sticky: bool
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Group:
    protocol: str
    port: int | None
    check_protocol: str
    check_port: str
    check_path: str
    sticky: bool
    targets: tuple[tuple[str, int], ...]  # (instance id, port)


class Reader:
    """What moto holds, in the shape the plan needs (all I/O is here)."""

    def __init__(self, elbv2: Any, ec2: Any) -> None:
        self._elbv2 = elbv2
        self._ec2 = ec2

    def load_balancers(self) -> list[dict[str, Any]]:
        found = self._elbv2.describe_load_balancers().get("LoadBalancers", [])
        return [lb for lb in found if lb.get("Type") == "network"]

    def listeners(self, lb_arn: str) -> list[dict[str, Any]]:
        return list(self._elbv2.describe_listeners(LoadBalancerArn=lb_arn).get("Listeners", []))

    def group(self, arn: str) -> Group:
        [body] = self._elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
        attributes = {
            a["Key"]: a["Value"]
            for a in self._elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        }
        health = self._elbv2.describe_target_health(TargetGroupArn=arn)
        targets = tuple(
            (d["Target"]["Id"], int(d["Target"].get("Port") or body["Port"]))
            for d in health.get("TargetHealthDescriptions", [])
        )
        return Group(
            protocol=str(body.get("Protocol", "TCP")),
            port=body.get("Port"),
            check_protocol=str(body.get("HealthCheckProtocol", "TCP")),
            check_port=str(body.get("HealthCheckPort", "traffic-port")),
            check_path=str(body.get("HealthCheckPath") or "/"),
            sticky=attributes.get("stickiness.enabled") == "true"
            and attributes.get("stickiness.type") == "source_ip",
            targets=targets,
        )

    def instance_addresses(self) -> dict[str, IPv4Address]:
        found = {}
        for reservation in self._ec2.describe_instances().get("Reservations", []):
            for instance in reservation.get("Instances", []):
                if instance.get("PrivateIpAddress"):
                    found[instance["InstanceId"]] = IPv4Address(instance["PrivateIpAddress"])
        return found

    def ingress_rules(self, groups: Iterable[str]) -> list[tuple[str, int, int, IPv4Network]]:
        """(protocol, first port, last port, source) of the groups' ingress rules."""
        ids = list(groups)
        if not ids:
            return []
        rules = []
        for group in self._ec2.describe_security_groups(GroupIds=ids)["SecurityGroups"]:
            for perm in group.get("IpPermissions", []):
                protocol = str(perm.get("IpProtocol", "-1"))
                first, last = int(perm.get("FromPort", 0)), int(perm.get("ToPort", 65535))
                if protocol == "-1":
                    first, last = 0, 65535
                for cidr in perm.get("IpRanges", []):
                    network = ipaddress.ip_network(cidr["CidrIp"])
                    if isinstance(network, IPv4Network):
                        rules.append((protocol, first, last, network))
        return rules


def _elastic_ip(lb: Mapping[str, Any]) -> IPv4Address | None:
    for zone in lb.get("AvailabilityZones", []):
        for address in zone.get("LoadBalancerAddresses", []) or []:
            if address.get("IpAddress"):
                return IPv4Address(address["IpAddress"])
    return None


def _address(lb: Mapping[str, Any], dns: Mapping[str, IPv4Address]) -> IPv4Address | None:
    return _elastic_ip(lb) or dns.get(str(lb.get("DNSName")))


def _sources(
    rules: list[tuple[str, int, int, IPv4Network]], protocol: str, port: int
) -> tuple[IPv4Network, ...]:
    return tuple(
        sorted(
            {
                src
                for proto, first, last, src in rules
                if proto in (protocol, "-1") and first <= port <= last
            },
            key=lambda n: (int(n.network_address), n.prefixlen),
        )
    )


def plan(reader: Reader, dns: Mapping[str, IPv4Address]) -> list[NlbListener]:
    """Every NLB listener moto holds, with its targets (unfiltered by health)."""
    instances = reader.instance_addresses()
    listeners: list[NlbListener] = []
    for lb in reader.load_balancers():
        address = _address(lb, dns)
        if address is None or address not in SAFE:
            log.warning("aws network: %s has no address in %s", lb.get("DNSName"), SAFE)
            continue
        groups = lb.get("SecurityGroups") or []
        rules = reader.ingress_rules(groups)
        for listener in reader.listeners(lb["LoadBalancerArn"]):
            arn = listener["DefaultActions"][0]["TargetGroupArn"]
            group = reader.group(arn)
            targets = []
            for instance, port in group.targets:
                if instance not in instances:
                    continue
                check_port = port if group.check_port == "traffic-port" else int(group.check_port)
                check = (
                    HealthTarget(instances[instance], check_port, group.check_path)
                    if group.check_protocol.upper() in ("HTTP", "HTTPS")
                    else None
                )
                targets.append(Target(instances[instance], port, check))
            protocols = (
                ("tcp", "udp")
                if listener["Protocol"] == "TCP_UDP"
                else (listener["Protocol"].lower(),)
            )
            for protocol in protocols:
                listeners.append(
                    NlbListener(
                        name=f"l{len(listeners)}",
                        address=address,
                        protocol=protocol,
                        port=int(listener["Port"]),
                        sources=_sources(rules, protocol, int(listener["Port"])) if groups else (),
                        sticky=group.sticky,
                        targets=tuple(targets),
                    )
                )
    return listeners


def render(listeners: list[NlbListener], health: Mapping[HealthTarget, bool]) -> str:
    """One `nft -f` script replacing our table with these listeners."""
    lines = [f"table ip {TABLE}", f"delete table ip {TABLE}", f"table ip {TABLE} {{"]
    checks = []
    nats = []
    for lst in listeners:
        healthy = [t for t in lst.targets if t.health is None or health.get(t.health) is True]
        chosen = healthy or list(lst.targets)
        if lst.sources:
            ranges = ", ".join(map(str, lst.sources))
            lines.append(
                f"  set src_{lst.name} {{ type ipv4_addr; flags interval; "
                f"elements = {{ {ranges} }} }}"
            )
            lines.append(f"  chain check_{lst.name} {{ ip saddr != @src_{lst.name} drop; }}")
        else:
            lines.append(f"  chain check_{lst.name} {{ }}")
        checks.append(f"{lst.address} . {lst.protocol} . {lst.port} : jump check_{lst.name}")
        if chosen:
            key = "ip saddr" if lst.sticky else f"ip saddr . {lst.protocol} sport"
            spread = ", ".join(f"{i} : {t.address} . {t.port}" for i, t in enumerate(chosen))
            rule = (
                f"meta l4proto {lst.protocol} dnat ip to jhash {key} mod {len(chosen)} "
                f"seed {HASH_SEED:#x} map {{ {spread} }}"
            )
        else:
            rule = "drop"
        lines.append(f"  chain nat_{lst.name} {{ {rule}; }}")
        nats.append(f"{lst.address} . {lst.protocol} . {lst.port} : jump nat_{lst.name}")
    vmap = "ip daddr . meta l4proto . th dport vmap {{ {} }}"
    lines.append("  chain filter { type filter hook prerouting priority -150; policy accept;")
    if checks:
        lines.append("    " + vmap.format(", ".join(checks)))
    lines.append("  }")
    lines.append("  chain nat { type nat hook prerouting priority dstnat; policy accept;")
    if nats:
        lines.append("    " + vmap.format(", ".join(nats)))
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


class AwsNetwork(PollingNetwork):
    """Runs the plan in `namespace` (the router between the outside network and
    the instances) until stopped."""

    def __init__(
        self,
        elbv2: Any,
        ec2: Any,
        *,
        namespace: str,
        dns_pool: Iterable[IPv4Address],
        poll: float = 0.3,
    ) -> None:
        super().__init__(namespace=namespace, poll=poll, name="aws-network")
        self._reader = Reader(elbv2, ec2)
        self._ns = namespace
        self._pool = iter(dns_pool)
        self._dns: dict[str, IPv4Address] = {}
        #: DNS names of NLBs with an Elastic IP: they resolve to it, as on AWS
        self._elastic: dict[str, IPv4Address] = {}
        self.listeners: list[NlbListener] = []

    def address_of(self, dns_name: str) -> IPv4Address:
        """The address this network gives an NLB's DNS name (a hosts entry's worth)."""
        if dns_name not in self._dns:
            address = next(self._pool)
            assert address in SAFE, address
            self._dns[dns_name] = address
        return self._dns[dns_name]

    def dns_names(self) -> dict[str, IPv4Address]:
        """Every NLB DNS name with its address (for hosts entries): its Elastic IP,
        else the one this network gave it."""
        return {**self._dns, **self._elastic}

    def clear(self) -> None:
        self._nft(f"table ip {TABLE}\ndelete table ip {TABLE}\n")

    def sync(self) -> list[NlbListener]:
        elastic = {}
        for lb in self._reader.load_balancers():
            name, eip = str(lb["DNSName"]), _elastic_ip(lb)
            if eip is None:
                self.address_of(name)
            else:
                elastic[name] = eip
        self._elastic = elastic
        listeners = plan(self._reader, self._dns)
        targets = frozenset(t.health for lst in listeners for t in lst.targets if t.health)
        self.health.set_targets(targets)
        self._nft(render(listeners, self.health.snapshot()))
        self.listeners = listeners
        return listeners

    def _nft(self, script: str) -> None:
        done = subprocess.run(
            ["ip", "netns", "exec", self._ns, "nft", "-f", "-"],
            input=script,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"nft: {done.stderr.strip()}\n{script}")
