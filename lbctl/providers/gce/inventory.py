"""A short-lived inventory shared by every reconcile of a round, and the readers over it.

A resync round reconciles every Service within seconds. Instead of one GET
per resource per Service, the inventory lists each kind once (paged, filtered
to names we may own) and every reconcile of the round reads from that list.

Guarantees:
- the cache only ever decides that nothing needs doing: before a mutation
  the provider re-reads the resources with GETs (`DirectReader`), except in
  node sync, which lists everything fresh first; so a stale entry can delay
  noticing outside drift by at most `ttl`, never cause a wrong write;
- every mutation marks its resource dirty *before* the call; a dirty entry
  is re-read with a GET by the next reader (a crash right after the call
  leaves it dirty), and a refresh that started before the mark keeps it;
- ages are measured on the injected `Clock`, so tests step a FakeClock;
  dirty marks are ordered by a sequence number, not by time, so two marks
  are never confused however coarse (or fake) the clock;
- refreshes are single-flight: concurrent callers wait for one listing;
- instances (for network tags) are listed with one aggregated call when a
  wanted instance is unknown or the list is older than `ttl`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from lbcommon.clock import Clock
from lbctl.providers.gce.api import ComputeApi
from lbctl.providers.gce.names import Ref
from lbctl.providers.gce.resources import (
    Address,
    Firewall,
    HealthCheck,
    Instance,
    Kind,
    Pool,
    Rule,
)

T = TypeVar("T")
Resource = Address | Firewall | HealthCheck | Pool | Rule


@dataclass(frozen=True)
class Listing:
    """Every resource we may own, one list call (or page run) per kind."""

    taken_at: float
    by_kind: Mapping[Kind, Mapping[str, Resource]] = field(default_factory=dict)


class Reader(Protocol):
    """Where `observe` gets resources from."""

    def get(self, kind: Kind, name: str) -> Resource | None: ...

    def addresses_with_ip(self, ip: str) -> list[Address]: ...

    def pools_using(self, check: str) -> list[str]: ...


class Inventory:
    """The cache; thread-safe."""

    def __init__(self, api: ComputeApi, *, ttl: float, clock: Clock) -> None:
        """`ttl`: seconds of `clock` a listing serves before it is listed again."""
        self.api = api
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._listing: Listing | None = None
        #: dirty resources -> the sequence number of their latest mark
        self._dirty: dict[tuple[Kind, str], int] = {}
        self._marks = 0
        self._fresh: dict[tuple[Kind, str], Resource | None] = {}
        self._instances: dict[Ref, Instance] = {}
        self._instances_at: float | None = None

    # -- listings -----------------------------------------------------------

    def listing(self, *, max_age: float | None = None) -> Listing:
        """A listing no older than `max_age` (default `ttl`); lists again if needed."""
        limit = self.ttl if max_age is None else max_age
        with self._refreshing:
            current = self._listing
            if current is not None and self._clock.now() - current.taken_at <= limit:
                return current
            started = self._clock.now()
            with self._lock:
                first_mark = self._marks  # marks after this one postdate the listing's start
            listed: dict[Kind, Mapping[str, Resource]] = {
                Kind.ADDRESS: _by_name(self.api.list_addresses()),
                Kind.FIREWALL: _by_name(self.api.list_firewalls()),
                Kind.HEALTH_CHECK: _by_name(self.api.list_health_checks()),
                Kind.POOL: _by_name(self.api.list_pools()),
                Kind.RULE: _by_name(self.api.list_rules()),
            }
            fresh = Listing(taken_at=started, by_kind=listed)
            with self._lock:
                self._listing = fresh
                self._dirty = {k: m for k, m in self._dirty.items() if m > first_mark}
                self._fresh.clear()
            return fresh

    def forget(self, kind: Kind, name: str) -> None:
        """Mark a resource dirty: about to change, so re-read it before trusting."""
        with self._lock:
            self._marks += 1
            self._dirty[(kind, name)] = self._marks
            self._fresh.pop((kind, name), None)

    def cached(self, kind: Kind, name: str, listing: Listing) -> Resource | None:
        """From `listing`, unless dirty (then one GET, remembered until the next listing)."""
        key = (kind, name)
        with self._lock:
            mark = self._dirty.get(key)
            if mark is None and key in self._fresh:
                return self._fresh[key]
        if mark is None:
            return listing.by_kind.get(kind, {}).get(name)
        value = get_one(self.api, kind, name)
        with self._lock:
            if self._dirty.get(key) == mark:  # not marked again while we read
                del self._dirty[key]
                self._fresh[key] = value
        return value

    # -- instances ----------------------------------------------------------

    def instances(self, wanted: Iterable[Ref]) -> dict[Ref, Instance]:
        """Instances among `wanted` that exist (listing them again when needed)."""
        refs = set(wanted)
        with self._refreshing:
            stale = self._instances_at is None or self._clock.now() - self._instances_at > self.ttl
            if stale or not refs <= self._instances.keys():
                at = self._clock.now()
                self._instances = {i.ref: i for i in self.api.list_instances()}
                self._instances_at = at
            return {ref: self._instances[ref] for ref in refs if ref in self._instances}


def _by_name(items: Iterable[Resource]) -> dict[str, Resource]:
    return {item.name: item for item in items}


def get_one(api: ComputeApi, kind: Kind, name: str) -> Resource | None:
    getters: dict[Kind, Callable[[str], Resource | None]] = {
        Kind.ADDRESS: api.get_address,
        Kind.FIREWALL: api.get_firewall,
        Kind.HEALTH_CHECK: api.get_health_check,
        Kind.POOL: api.get_pool,
        Kind.RULE: api.get_rule,
    }
    return getters[kind](name)


class CachedReader:
    """Reads one listing (plus GETs of dirty entries)."""

    def __init__(self, inventory: Inventory, listing: Listing) -> None:
        self._inventory = inventory
        self._listing = listing

    def get(self, kind: Kind, name: str) -> Resource | None:
        return self._inventory.cached(kind, name, self._listing)

    def addresses_with_ip(self, ip: str) -> list[Address]:
        found: list[Address] = []
        for name in self._listing.by_kind.get(Kind.ADDRESS, {}):
            address = self.get(Kind.ADDRESS, name)
            if isinstance(address, Address) and address.ip == ip:
                found.append(address)
        return found

    def pools_using(self, check: str) -> list[str]:
        pools = (self.get(Kind.POOL, name) for name in self._listing.by_kind.get(Kind.POOL, {}))
        return sorted(p.name for p in pools if isinstance(p, Pool) and check in p.health_checks)


class DirectReader:
    """Fresh GETs for one load balancer's resources (before any mutation).

    Answers are remembered for the reader's lifetime; `after(changed)` gives a
    reader that forgets only what those resources' steps may have changed.
    """

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory
        self._memo: dict[tuple[Kind, str], Resource | None] = {}
        self._by_ip: dict[str, list[Address]] = {}
        self._users: dict[str, list[str]] = {}

    def get(self, kind: Kind, name: str) -> Resource | None:
        key = (kind, name)
        if key not in self._memo:
            self._memo[key] = get_one(self._inventory.api, kind, name)
        return self._memo[key]

    def addresses_with_ip(self, ip: str) -> list[Address]:
        if ip not in self._by_ip:
            self._by_ip[ip] = self._inventory.api.find_addresses(ip)
        return self._by_ip[ip]

    def pools_using(self, check: str) -> list[str]:
        if check not in self._users:
            pools = self._inventory.api.list_pools()
            self._users[check] = sorted(p.name for p in pools if check in p.health_checks)
        return self._users[check]

    def after(self, changed: Iterable[tuple[Kind, str]]) -> DirectReader:
        """A reader that re-reads `changed` (and what depends on their kind)."""
        fresh = DirectReader(self._inventory)
        dropped = set(changed)
        fresh._memo = {k: v for k, v in self._memo.items() if k not in dropped}
        kinds = {kind for kind, _ in dropped}
        if Kind.ADDRESS not in kinds and Kind.RULE not in kinds:
            fresh._by_ip = dict(self._by_ip)
        if Kind.POOL not in kinds:
            fresh._users = dict(self._users)
        return fresh
