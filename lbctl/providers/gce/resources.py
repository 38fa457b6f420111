"""GCE resources as frozen values: one type per kind, for what exists and what we want.

Guarantees:
- the same value type describes an observed resource (translated from the API
  once, in lbctl.providers.gce.convert) and a desired one (built by
  lbctl.providers.gce.diff), so "differs" is a plain comparison of
  normalised fields: CIDRs in canonical form, tags and ranges sorted,
  references reduced to names inside our project;
- `Observed` is everything one load balancer's diff needs, gathered by one
  reader (cached lists or fresh GETs) and nothing else: the diff stays pure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from lbctl.providers.gce.names import Ref


class Kind(StrEnum):
    """Resource kinds, named as the Compute API's collections."""

    ADDRESS = "addresses"
    FIREWALL = "firewalls"
    HEALTH_CHECK = "httpHealthChecks"
    POOL = "targetPools"
    RULE = "forwardingRules"


def canonical_ranges(values: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated ranges; a single address as a plain IP (`1.2.3.4`)."""
    result: set[str] = set()
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            result.add(value)  # kept verbatim, so it differs from anything we want
            continue
        full = network.prefixlen == network.max_prefixlen
        result.add(str(network.network_address) if full else str(network))
    return tuple(sorted(result))


@dataclass(frozen=True)
class Address:
    name: str
    ip: str | None
    tier: str
    description: str = ""
    #: forwarding rules using the address
    users: tuple[Ref, ...] = ()


@dataclass(frozen=True)
class Firewall:
    name: str
    description: str
    network: str
    protocol: str
    ports: tuple[str, ...]
    source_ranges: tuple[str, ...]
    destination_ranges: tuple[str, ...] = ()
    target_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class HealthCheck:
    name: str
    description: str
    port: int
    path: str
    interval: int
    timeout: int
    healthy: int
    unhealthy: int

    def covers(self, wanted: HealthCheck) -> bool:
        """Same target, and timings no tighter than wanted (upstream keeps larger
        values a user tuned; it only raises what is below the default)."""
        return (
            self.port == wanted.port
            and self.path == wanted.path
            and self.description == wanted.description
            and self.interval >= wanted.interval
            and self.timeout >= wanted.timeout
            and self.healthy >= wanted.healthy
            and self.unhealthy >= wanted.unhealthy
        )

    def merged(self, wanted: HealthCheck) -> HealthCheck:
        """`wanted`, keeping the larger timings of `self`."""
        return HealthCheck(
            name=wanted.name,
            description=wanted.description,
            port=wanted.port,
            path=wanted.path,
            interval=max(self.interval, wanted.interval),
            timeout=max(self.timeout, wanted.timeout),
            healthy=max(self.healthy, wanted.healthy),
            unhealthy=max(self.unhealthy, wanted.unhealthy),
        )


@dataclass(frozen=True)
class Pool:
    name: str
    description: str
    instances: frozenset[Ref]
    #: names of the legacy health checks (global, in our project)
    health_checks: tuple[str, ...]
    affinity: str


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    ip: str
    protocol: str
    port_range: str
    #: name of the target pool in our project and region; None for anything else
    pool: str | None
    tier: str


@dataclass(frozen=True)
class Instance:
    ref: Ref
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observed:
    """What exists of one load balancer, as its diff needs it."""

    address: Address | None = None
    #: addresses by IP, for the IPs that matter (requested, and the rule's)
    ip_holders: Mapping[str, Address] = field(default_factory=dict)
    firewalls: Mapping[str, Firewall] = field(default_factory=dict)
    health_checks: Mapping[str, HealthCheck] = field(default_factory=dict)
    pools: Mapping[str, Pool] = field(default_factory=dict)
    rule: Rule | None = None
    #: network tags of the desired instances (union)
    tags: tuple[str, ...] = ()
    #: which of the desired instances exist; None when unknown (keep them all)
    existing: frozenset[Ref] | None = None
    #: a target pool of another load balancer uses the shared health check
    shared_in_use: bool = True
