"""Translation between Compute API objects and the provider's frozen values.

Guarantees:
- raw API objects (compute_v1 messages, legacy health-check JSON) are turned
  into `resources` values here and only here, normalised so that comparing
  an observed value with a desired one is meaningful: CIDRs canonical,
  lists sorted, references parsed and reduced to names in our project;
- a reference outside our project/region (a rule targeting someone else's
  pool) becomes None, which never equals anything we want, so we fix it;
- desired values become API objects with full resource URLs under the API
  root we were configured with.
"""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from lbctl.providers.gce.names import Ref, Scope
from lbctl.providers.gce.resources import (
    Address,
    Firewall,
    HealthCheck,
    Instance,
    Kind,
    Pool,
    Rule,
    canonical_ranges,
)

JSON = dict[str, Any]


class Links:
    """Full URLs of our resources under one API root."""

    def __init__(self, api_root: str, scope: Scope) -> None:
        self._root = api_root.rstrip("/")
        self._scope = scope

    def ref(self, kind: Kind | str, name: str) -> Ref:
        collection = kind.value if isinstance(kind, Kind) else kind
        where = "global" if collection in ("firewalls", "httpHealthChecks", "networks") else None
        return Ref(self._scope.project, where or f"regions/{self._scope.region}", collection, name)

    def url(self, kind: Kind | str, name: str) -> str:
        return self.ref(kind, name).url(self._root)

    def instance(self, ref: Ref) -> str:
        return ref.url(self._root)

    def local_name(self, url: str, kind: Kind | str) -> str | None:
        """The name, if `url` refers to a `kind` resource of our project and scope."""
        ref = Ref.parse(url)
        if ref is None:
            return None
        wanted = self.ref(kind, ref.name)
        return ref.name if ref == wanted else None


# -- API -> values -----------------------------------------------------------


def address(message: compute_v1.Address) -> Address:
    users = tuple(ref for url in message.users if (ref := Ref.parse(url)) is not None)
    return Address(
        name=message.name,
        ip=message.address or None,
        tier=message.network_tier or "PREMIUM",
        description=message.description,
        users=users,
    )


def firewall(message: compute_v1.Firewall) -> Firewall:
    allowed = list(message.allowed)
    protocol, ports = "", tuple[str, ...]()
    if len(allowed) == 1 and not message.denied:
        protocol, ports = allowed[0].I_p_protocol.lower(), tuple(allowed[0].ports)
    network = Ref.parse(message.network)
    return Firewall(
        name=message.name,
        description=message.description,
        network=network.name if network is not None else message.network,
        protocol=protocol,
        ports=ports,
        source_ranges=canonical_ranges(message.source_ranges),
        destination_ranges=canonical_ranges(message.destination_ranges),
        target_tags=tuple(sorted(set(message.target_tags))),
    )


def health_check(body: JSON) -> HealthCheck:
    def number(key: str, default: int) -> int:
        value = body.get(key)
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else default

    return HealthCheck(
        name=str(body.get("name", "")),
        description=str(body.get("description", "")),
        port=number("port", 80),
        path=str(body.get("requestPath") or "/"),
        interval=number("checkIntervalSec", 5),
        timeout=number("timeoutSec", 5),
        healthy=number("healthyThreshold", 2),
        unhealthy=number("unhealthyThreshold", 2),
    )


def pool(message: compute_v1.TargetPool, links: Links) -> Pool:
    checks = tuple(
        name
        for url in message.health_checks
        if (name := links.local_name(url, Kind.HEALTH_CHECK)) is not None
    )
    return Pool(
        name=message.name,
        description=message.description,
        instances=frozenset(ref for url in message.instances if (ref := Ref.parse(url))),
        health_checks=checks,
        affinity=message.session_affinity or "NONE",
    )


def rule(message: compute_v1.ForwardingRule, links: Links) -> Rule:
    return Rule(
        name=message.name,
        description=message.description,
        ip=message.I_p_address,
        protocol=message.I_p_protocol,
        port_range=message.port_range,
        pool=links.local_name(message.target, Kind.POOL),
        tier=message.network_tier or "PREMIUM",
    )


def instance(message: compute_v1.Instance) -> Instance | None:
    ref = Ref.parse(message.self_link)
    if ref is None:
        return None
    return Instance(ref=ref, tags=tuple(sorted(set(message.tags.items))))


# -- values -> API -----------------------------------------------------------


def address_message(value: Address) -> compute_v1.Address:
    message = compute_v1.Address(
        name=value.name, description=value.description, network_tier=value.tier
    )
    if value.ip:
        message.address = value.ip
    return message


def firewall_message(value: Firewall, links: Links) -> compute_v1.Firewall:
    return compute_v1.Firewall(
        name=value.name,
        description=value.description,
        network=links.url("networks", value.network),
        direction="INGRESS",
        allowed=[compute_v1.Allowed(I_p_protocol=value.protocol, ports=list(value.ports))],
        source_ranges=list(value.source_ranges),
        destination_ranges=list(value.destination_ranges),
        target_tags=list(value.target_tags),
    )


def health_check_body(value: HealthCheck) -> JSON:
    return {
        "name": value.name,
        "description": value.description,
        "port": value.port,
        "requestPath": value.path,
        "checkIntervalSec": value.interval,
        "timeoutSec": value.timeout,
        "healthyThreshold": value.healthy,
        "unhealthyThreshold": value.unhealthy,
    }


def pool_message(value: Pool, links: Links) -> compute_v1.TargetPool:
    return compute_v1.TargetPool(
        name=value.name,
        description=value.description,
        instances=[links.instance(ref) for ref in sorted(value.instances)],
        health_checks=[links.url(Kind.HEALTH_CHECK, name) for name in value.health_checks],
        session_affinity=value.affinity,
    )


def rule_message(value: Rule, links: Links) -> compute_v1.ForwardingRule:
    return compute_v1.ForwardingRule(
        name=value.name,
        description=value.description,
        I_p_address=value.ip,
        I_p_protocol=value.protocol,
        port_range=value.port_range,
        target=links.url(Kind.POOL, value.pool or ""),
        network_tier=value.tier,
        load_balancing_scheme="EXTERNAL",
    )
