"""Where the test runner may send probe traffic.

Guarantees: `DestinationGuard.check` returns the address to use only when it
lies inside an allowed network, and raises `DestinationRefusedError` otherwise,
before any packet is sent. A frozen guard (the local cluster: 198.18.0.0/15)
never widens; an open guard (a kubeconfig cluster) widens only by exact
addresses the cluster itself reports (node addresses, ingress IPs).
Host names are resolved and every address they resolve to must pass.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The benchmarking range the local cluster lives in (DESIGN.md, address plan).
LOCAL_CLUSTER_RANGE: Final = ipaddress.ip_network("198.18.0.0/15")


class DestinationRefusedError(AssertionError):
    """A runner-side probe was about to leave the cluster's own ranges."""


class DestinationGuard:
    """The allow-list of runner-side probe destinations."""

    def __init__(self, networks: Iterable[IPNetwork], *, frozen: bool) -> None:
        self._networks: list[IPNetwork] = list(networks)
        self.frozen = frozen

    @classmethod
    def local(cls) -> DestinationGuard:
        """The local cluster's guard: 198.18.0.0/15 and nothing else, ever."""
        return cls([LOCAL_CLUSTER_RANGE], frozen=True)

    @property
    def networks(self) -> tuple[IPNetwork, ...]:
        return tuple(self._networks)

    def allows(self, address: IPAddress) -> bool:
        return any(address in net for net in self._networks if net.version == address.version)

    def admit(self, address: str) -> None:
        """Allow one more exact address the cluster reported (open guards only).

        A frozen guard accepts the call only for addresses it already allows,
        so a cluster reporting an outside address cannot widen it.
        """
        ip = ipaddress.ip_address(address)
        if self.allows(ip):
            return
        if self.frozen:
            raise DestinationRefusedError(
                f"{address} is outside the cluster's ranges "
                f"({', '.join(map(str, self._networks))}); refusing to send traffic there"
            )
        self._networks.append(ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}"))

    def check(self, host: str) -> str:
        """Return `host` as a literal address if every address it names is allowed."""
        addresses = _resolve(host)
        refused = [a for a in addresses if not self.allows(a)]
        if refused or not addresses:
            allowed = ", ".join(map(str, self._networks)) or "nothing"
            raise DestinationRefusedError(
                f"refusing a probe to {host} ({', '.join(map(str, refused))}): "
                f"outside the allowed ranges ({allowed})"
            )
        return str(addresses[0])


def _resolve(host: str) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
