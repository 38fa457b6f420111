"""IP address management for the local provider: pools and an allocator.

Pure bookkeeping, in the spirit of MetalLB's allocator: no I/O, no Kubernetes
objects, no clock. What it guarantees:

- A `Pool` is a validated, immutable, inclusive range of one address family,
  parsed from a CIDR (``198.18.0.192/27``) or a range
  (``198.18.0.200-198.18.0.250``). In an IPv4 CIDR shorter than /31 the network
  and broadcast addresses are never handed out; /31, /32, ranges and IPv6
  CIDRs are used whole. A CIDR with host bits set is an error, never masked.
- `parse_pools` either returns pools that are well formed and disjoint, in the
  order given, or raises `PoolSpecError` with a one-line message naming the
  offending spec.
- `IPAllocator` hands each key (a Service ``namespace/name``) at most one
  address and each address to at most one key. `allocate` is idempotent per
  key, and a failed `allocate` changes nothing. Without a requested address it
  returns the lowest free address of the first pool (in the order given) of
  the asked family.
- Cost: each pool keeps a high-water mark (every offset below it has been
  handed out at least once) and a min-heap of offsets freed below that mark,
  so `allocate` and `release` are O(log n) amortized in the number of
  allocations, never proportional to the pool size.
- Not thread-safe: the caller serializes calls (the controller owns one
  allocator and mutates it under one lock).
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from types import MappingProxyType
from typing import TypeAlias

IPAddress: TypeAlias = IPv4Address | IPv6Address

LB_IP_FIELD = "spec.loadBalancerIP"
INGRESS_FIELD = "status.loadBalancer.ingress"


class IPFamily(enum.StrEnum):
    """An address family, spelled as in a Service's ``spec.ipFamilies``."""

    IPV4 = "IPv4"
    IPV6 = "IPv6"

    @property
    def version(self) -> int:
        return 4 if self is IPFamily.IPV4 else 6


class PoolSpecError(ValueError):
    """A ``--pool`` value cannot be used; the message is one line naming it."""


class AllocationError(Exception):
    """An address cannot be given to a Service; `field` names the Service field at fault."""

    def __init__(self, reason: str, *, field: str = LB_IP_FIELD) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidAddress(AllocationError):  # noqa: N818 (names fixed by the design)
    """The requested address does not parse, or is not of the Service's family."""


class NotInPool(AllocationError):  # noqa: N818 (names fixed by the design)
    """The requested address lies outside every pool."""


class AddressInUse(AllocationError):  # noqa: N818 (names fixed by the design)
    """The requested address is held by another key, named by `holder`."""

    def __init__(self, reason: str, *, holder: str) -> None:
        super().__init__(reason)
        self.holder = holder


class PoolExhausted(AllocationError):  # noqa: N818 (names fixed by the design)
    """No pool of the asked family has a free address (or none is configured)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, field=INGRESS_FIELD)


@dataclass(frozen=True)
class Pool:
    """An inclusive range ``first..last`` of one family; `spec` is the text it came from."""

    first: IPAddress
    last: IPAddress
    spec: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        name = str(self)
        if self.first.version != self.last.version:
            raise PoolSpecError(f"invalid pool {name!r}: mixes IPv4 and IPv6")
        if _scoped(self.first) or _scoped(self.last):
            raise PoolSpecError(f"invalid pool {name!r}: zone indexes are not allowed")
        if int(self.first) > int(self.last):
            raise PoolSpecError(f"invalid pool {name!r}: first address is after the last")

    @classmethod
    def parse(cls, spec: str) -> Pool:
        """Parse ``a.b.c.d/n``, ``first-last`` (IPv4 or IPv6); raise `PoolSpecError`."""
        text = spec.strip()
        if not text:
            raise PoolSpecError(f"invalid pool {spec!r}: empty")
        try:
            if "/" in text:
                net = ip_network(text, strict=True)
                if _scoped(net.network_address):
                    raise ValueError("zone indexes are not allowed")
                if net.version == 4 and net.prefixlen < 31:
                    return cls(net.network_address + 1, net.broadcast_address - 1, spec)
                return cls(net.network_address, net.broadcast_address, spec)
            if "-" in text:
                first, _, last = text.partition("-")
                return cls(ip_address(first.strip()), ip_address(last.strip()), spec)
        except PoolSpecError:
            raise
        except ValueError as err:
            raise PoolSpecError(f"invalid pool {spec!r}: {err}") from None
        raise PoolSpecError(f"invalid pool {spec!r}: expected a CIDR or a first-last range")

    def __str__(self) -> str:
        return self.spec or f"{self.first}-{self.last}"

    @property
    def family(self) -> IPFamily:
        return IPFamily.IPV4 if self.first.version == 4 else IPFamily.IPV6

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def __contains__(self, ip: object) -> bool:
        return (
            isinstance(ip, IPv4Address | IPv6Address)
            and ip.version == self.first.version
            and not _scoped(ip)
            and int(self.first) <= int(ip) <= int(self.last)
        )

    def overlaps(self, other: Pool) -> bool:
        return self.first.version == other.first.version and not (
            int(self.last) < int(other.first) or int(other.last) < int(self.first)
        )

    def offset(self, ip: IPAddress) -> int:
        return int(ip) - int(self.first)

    def address_at(self, offset: int) -> IPAddress:
        return self.first + offset


def parse_pools(specs: Sequence[str]) -> tuple[Pool, ...]:
    """Parse every spec, keeping their order; raise `PoolSpecError` on the first bad one."""
    if isinstance(specs, str):
        raise TypeError("parse_pools takes a sequence of specs, not one string")
    if not specs:
        raise PoolSpecError("no address pool given")
    pools = tuple(Pool.parse(spec) for spec in specs)
    _check_disjoint(pools)
    return pools


def _check_disjoint(pools: Sequence[Pool]) -> None:
    ordered = sorted(pools, key=lambda p: (p.first.version, int(p.first)))
    for prev, cur in itertools.pairwise(ordered):
        if prev.overlaps(cur):
            raise PoolSpecError(f"invalid pool {str(cur)!r}: overlaps pool {str(prev)!r}")


def _scoped(ip: IPAddress) -> bool:
    return isinstance(ip, IPv6Address) and ip.scope_id is not None


class _PoolState:
    """Free-address index of one pool: a high-water mark plus a heap of freed offsets.

    Invariant: every free offset below `fresh` is in `freed`; `heap` holds every
    member of `freed` (and possibly stale entries, skipped lazily).
    """

    __slots__ = ("freed", "fresh", "heap", "pool", "used")

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.fresh = 0
        self.heap: list[int] = []
        self.freed: set[int] = set()
        self.used = 0


class IPAllocator:
    """Which key holds which address. See the module docstring for guarantees."""

    def __init__(self, pools: Sequence[Pool]) -> None:
        _check_disjoint(pools)
        self._states = tuple(_PoolState(pool) for pool in pools)
        self._by_key: dict[str, IPAddress] = {}
        self._by_ip: dict[IPAddress, str] = {}

    @property
    def pools(self) -> tuple[Pool, ...]:
        return tuple(state.pool for state in self._states)

    def allocate(
        self, key: str, *, requested: str | None = None, family: IPFamily = IPFamily.IPV4
    ) -> IPAddress:
        """Give `key` an address and return it; on error nothing changes.

        A key keeps what it holds unless it requests another address (or holds
        one of another family): the new one is taken first, then the old freed.
        """
        current = self._by_key.get(key)
        if requested is not None:
            ip = self._check_requested(key, requested, family)
        elif current is not None and current.version == family.version:
            return current
        else:
            ip = self._lowest_free(family)
        if ip != current:
            self.release(key)
            self._take(key, ip)
        return ip

    def release(self, key: str) -> IPAddress | None:
        """Free what `key` holds and return it; releasing an unknown key is a no-op."""
        ip = self._by_key.pop(key, None)
        if ip is None:
            return None
        del self._by_ip[ip]
        state = self._state_for(ip)
        assert state is not None, "an allocated address always lies in a pool"
        state.used -= 1
        off = state.pool.offset(ip)
        if off < state.fresh and off not in state.freed:
            state.freed.add(off)
            heapq.heappush(state.heap, off)
        return ip

    def restore(self, key: str, ip: str | IPAddress) -> bool:
        """Record that `key` already holds `ip` (from Service status, at start).

        Returns True if recorded (or already so); False, recording nothing, if
        `ip` is malformed, outside the pools, held by another key, or `key`
        already holds another address. The caller then allocates afresh.
        """
        addr = _to_address(ip)
        if addr is None or self._state_for(addr) is None:
            return False
        owner = self._by_ip.get(addr)
        if owner is not None or key in self._by_key:
            return owner == key
        self._take(key, addr)
        return True

    def holder(self, ip: str | IPAddress) -> str | None:
        addr = _to_address(ip)
        return None if addr is None else self._by_ip.get(addr)

    def address_of(self, key: str) -> IPAddress | None:
        return self._by_key.get(key)

    def in_use(self) -> Mapping[str, IPAddress]:
        """A read-only snapshot: key -> address."""
        return MappingProxyType(dict(self._by_key))

    def free_count(self, family: IPFamily | None = None) -> int:
        return sum(
            s.pool.size - s.used for s in self._states if family is None or s.pool.family is family
        )

    def _check_requested(self, key: str, requested: str, family: IPFamily) -> IPAddress:
        ip = _to_address(requested)
        if ip is None:
            raise InvalidAddress(f"{requested!r} is not an IP address")
        if self._state_for(ip) is None:
            pools = ", ".join(str(s.pool) for s in self._states)
            raise NotInPool(f"{ip} is not in any address pool ({pools})")
        if ip.version != family.version:
            raise InvalidAddress(f"{ip} is not {family.value}, the Service's family")
        owner = self._by_ip.get(ip)
        if owner is not None and owner != key:
            raise AddressInUse(f"{ip} is already used by {owner}", holder=owner)
        return ip

    def _lowest_free(self, family: IPFamily) -> IPAddress:
        states = [s for s in self._states if s.pool.family is family]
        for state in states:
            while state.heap and state.heap[0] not in state.freed:
                heapq.heappop(state.heap)
            if state.heap:
                return state.pool.address_at(state.heap[0])
            while state.fresh < state.pool.size:
                ip = state.pool.address_at(state.fresh)
                if ip not in self._by_ip:
                    return ip
                state.fresh += 1
        if not states:
            raise PoolExhausted(f"no {family.value} address pool is configured")
        total = sum(s.pool.size for s in states)
        raise PoolExhausted(f"all {total} {family.value} pool addresses are in use")

    def _take(self, key: str, ip: IPAddress) -> None:
        state = self._state_for(ip)
        assert state is not None, "only pool addresses are taken"
        self._by_key[key] = ip
        self._by_ip[ip] = key
        state.used += 1
        state.freed.discard(state.pool.offset(ip))

    def _state_for(self, ip: IPAddress) -> _PoolState | None:
        return next((s for s in self._states if ip in s.pool), None)


def _to_address(value: str | IPAddress) -> IPAddress | None:
    if isinstance(value, IPv4Address | IPv6Address):
        return None if _scoped(value) else value
    try:
        ip = ip_address(value)
    except ValueError:
        return None
    return None if _scoped(ip) else ip
