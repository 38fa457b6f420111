"""Holding load-balancer addresses on an interface, and telling the LAN (gratuitous ARP).

Guarantees:
- `hold(owned)` leaves exactly `owned` among the pool addresses on the
  interface: it adds what is missing (as /32, so no route changes) and
  removes every other address that lies in one of our pools, also ones left
  behind by a previous run. Addresses outside the pools are never touched.
- Each newly added address is announced at once with a gratuitous ARP
  request and reply (sent from an AF_PACKET socket in the right namespace),
  and again `repeat_after` seconds later by `hold`'s caller via `announce`,
  so switches and neighbours learn the new owner even if one frame is lost.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import subprocess
from collections.abc import Collection, Sequence
from ipaddress import IPv4Address, ip_address

from lbcommon.pools import Pool
from nodeproxy import netns

log = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def arp_frames(ip: IPv4Address, mac: str) -> list[bytes]:
    """A gratuitous ARP request and reply for `ip` at `mac` (Ethernet frames)."""
    src = _mac_bytes(mac)
    frames = []
    for op, target in ((1, b"\x00" * 6), (2, BROADCAST)):
        arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + src + ip.packed + target + ip.packed
        frames.append(BROADCAST + src + struct.pack("!H", ETH_P_ARP) + arp)
    return frames


def send_gratuitous_arp(
    interface: str, ip: IPv4Address, mac: str, *, namespace: str | None = None
) -> None:
    sock = netns.make_socket(namespace, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind((interface, ETH_P_ARP))
        for frame in arp_frames(ip, mac):
            sock.send(frame)
    finally:
        sock.close()


class Addresses:
    """The pool addresses on one interface."""

    def __init__(
        self, interface: str, mac: str, pools: Sequence[Pool], *, namespace: str | None = None
    ) -> None:
        self.interface = interface
        self.mac = mac
        self._pools = pools
        self._ns = namespace

    def current(self) -> frozenset[IPv4Address]:
        """Pool addresses now on the interface."""
        listing = netns.run(self._ns, ["ip", "-j", "-4", "addr", "show", "dev", self.interface])
        found: set[IPv4Address] = set()
        for link in json.loads(listing):
            for info in link.get("addr_info", []):
                addr = ip_address(info["local"])
                if isinstance(addr, IPv4Address) and any(addr in p for p in self._pools):
                    found.add(addr)
        return frozenset(found)

    def hold(self, owned: Collection[IPv4Address]) -> tuple[set[IPv4Address], set[IPv4Address]]:
        """Make the pool addresses on the interface exactly `owned`; return (added, removed)."""
        have = self.current()
        want = frozenset(owned)
        removed = set(have - want)
        added = set(want - have)
        for ip in sorted(removed):
            self._ip("del", ip)
        for ip in sorted(added):
            self._ip("add", ip)
            self.announce(ip)
        return added, removed

    def announce(self, ip: IPv4Address) -> None:
        try:
            send_gratuitous_arp(self.interface, ip, self.mac, namespace=self._ns)
        except OSError as err:
            log.warning("gratuitous ARP for %s failed: %s", ip, err)

    def _ip(self, verb: str, ip: IPv4Address) -> None:
        try:
            netns.run(self._ns, ["ip", "addr", verb, f"{ip}/32", "dev", self.interface])
            log.info("%s %s on %s", "added" if verb == "add" else "removed", ip, self.interface)
        except subprocess.CalledProcessError as err:
            log.error("ip addr %s %s: %s", verb, ip, err.stderr.strip())
