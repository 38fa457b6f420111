"""Address pools: validated, immutable ranges of one family, parsed from flags.

Shared by lbctl (which allocates from them) and nodeproxy (which serves the
addresses that lie in them). Guarantees:

- A `Pool` is an inclusive range of one address family, parsed from a CIDR
  (``198.18.0.192/27``) or a range (``198.18.0.200-198.18.0.250``). In an IPv4
  CIDR shorter than /31 the network and broadcast addresses are excluded;
  /31, /32, ranges and IPv6 CIDRs are used whole. A CIDR with host bits set
  is an error, never masked.
- `parse_pools` either returns pools that are well formed and disjoint, in
  the order given, or raises `PoolSpecError` with a one-line message naming
  the offending spec.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import TypeAlias

IPAddress: TypeAlias = IPv4Address | IPv6Address

#: the local cluster's pool: on the node bridge's L2 (docs/address-plan.md)
DEFAULT_POOL = "198.18.0.200-198.18.0.250"


class IPFamily(enum.StrEnum):
    """An address family, spelled as in a Service's ``spec.ipFamilies``."""

    IPV4 = "IPv4"
    IPV6 = "IPv6"

    @property
    def version(self) -> int:
        return 4 if self is IPFamily.IPV4 else 6


class PoolSpecError(ValueError):
    """A ``--pool`` value cannot be used; the message is one line naming it."""


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
        if is_scoped(self.first) or is_scoped(self.last):
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
                if is_scoped(net.network_address):
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
            and not is_scoped(ip)
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
    check_disjoint(pools)
    return pools


def check_disjoint(pools: Sequence[Pool]) -> None:
    ordered = sorted(pools, key=lambda p: (p.first.version, int(p.first)))
    for prev, cur in itertools.pairwise(ordered):
        if prev.overlaps(cur):
            raise PoolSpecError(f"invalid pool {str(cur)!r}: overlaps pool {str(prev)!r}")


def is_scoped(ip: IPAddress) -> bool:
    return isinstance(ip, IPv6Address) and ip.scope_id is not None
