"""Gather what exists of one load balancer into an `Observed`, from any Reader.

Guarantees:
- reads exactly the resources the diff may touch, by their deterministic
  names (both target pools, both health checks, the three firewalls, the
  address and the rule), plus the addresses holding the IPs that matter;
- asks which other pools use the shared health check only when the answer
  can matter (a Local load balancer, or a delete), since that costs a list;
- the same function serves ensure, plan and delete, so they cannot disagree
  about what exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from lbctl.providers.gce import names
from lbctl.providers.gce.inventory import Reader
from lbctl.providers.gce.names import Ref, Scope
from lbctl.providers.gce.resources import (
    Address,
    Firewall,
    HealthCheck,
    Instance,
    Kind,
    Observed,
    Pool,
    Rule,
)

R = TypeVar("R")


def observe(
    name: str,
    reader: Reader,
    scope: Scope,
    *,
    requested_ip: str | None = None,
    instances: Mapping[Ref, Instance] | None = None,
    wanted: tuple[Ref, ...] = (),
    shared_users: bool = True,
) -> Observed:
    """What exists of load balancer `name`.

    `instances` are the existing instances among `wanted` (None: unknown);
    `shared_users`: whether to find out if other pools use the shared check.
    """
    address = _typed(reader.get(Kind.ADDRESS, name), Address)
    rule = _typed(reader.get(Kind.RULE, name), Rule)
    holders: dict[str, Address] = {}
    for ip in {requested_ip, rule.ip if rule is not None else None}:
        if not ip or (address is not None and address.ip == ip):
            continue
        for found in reader.addresses_with_ip(ip):
            holders[ip] = found
    if address is not None and address.ip:
        holders[address.ip] = address
    shared = names.shared_health_check_name(scope.cluster_id)
    firewall_names = (
        names.firewall_name(name),
        names.health_check_firewall_name(name, shared=False),
        names.health_check_firewall_name(shared, shared=True),
    )
    firewalls = {
        n: f for n in firewall_names if (f := _typed(reader.get(Kind.FIREWALL, n), Firewall))
    }
    checks = {
        n: c for n in (name, shared) if (c := _typed(reader.get(Kind.HEALTH_CHECK, n), HealthCheck))
    }
    own_pools = names.pool_names(name)
    pools = {n: p for n in own_pools if (p := _typed(reader.get(Kind.POOL, n), Pool))}
    in_use = True
    if shared_users and (shared in checks or firewall_names[2] in firewalls):
        in_use = any(p not in own_pools for p in reader.pools_using(shared))
    tags: set[str] = set()
    existing: frozenset[Ref] | None = None
    if instances is not None:
        existing = frozenset(ref for ref in wanted if ref in instances)
        for ref in existing:
            tags.update(instances[ref].tags)
    return Observed(
        address=address,
        ip_holders=holders,
        firewalls=firewalls,
        health_checks=checks,
        pools=pools,
        rule=rule,
        tags=tuple(sorted(tags)),
        existing=existing,
        shared_in_use=in_use,
    )


def _typed(value: object, cls: type[R]) -> R | None:
    return value if isinstance(value, cls) else None
