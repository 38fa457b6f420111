"""IP address management for the local provider: an allocator over lbcommon pools.

Pure bookkeeping, in the spirit of MetalLB's allocator: no I/O, no Kubernetes
objects, no clock. What it guarantees:

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

import heapq
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from types import MappingProxyType

from lbcommon.pools import IPAddress, IPFamily, Pool, check_disjoint, is_scoped

LB_IP_FIELD = "spec.loadBalancerIP"
INGRESS_FIELD = "status.loadBalancer.ingress"


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


class _PoolState:
    """Free-address index of one pool: a high-water mark plus a heap of freed offsets.

    Invariant: every free offset below `fresh` is in `freed`; `heap` holds every
    member of `freed` (and possibly stale entries, skipped lazily).
    """

    __slots__ = ("freed", "fresh", "heap", "pool")

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.fresh = 0
        self.heap: list[int] = []
        self.freed: set[int] = set()


class IPAllocator:
    """Which key holds which address. See the module docstring for guarantees."""

    def __init__(self, pools: Sequence[Pool]) -> None:
        check_disjoint(pools)
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
        state.freed.discard(state.pool.offset(ip))

    def _state_for(self, ip: IPAddress) -> _PoolState | None:
        return next((s for s in self._states if ip in s.pool), None)


def _to_address(value: str | IPAddress) -> IPAddress | None:
    if isinstance(value, IPv4Address | IPv6Address):
        return None if is_scoped(value) else value
    try:
        ip = ip_address(value)
    except ValueError:
        return None
    return None if is_scoped(ip) else ip
