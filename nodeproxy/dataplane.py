"""Applying a DataplaneConfig to the kernel, and reading what it counted.

Guarantees:
- `apply` is one `nft -f` transaction (all or nothing) computed from what the
  kernel has now, so it is idempotent and repairs manual edits; dynamic flow
  and affinity maps survive it (see nodeproxy.nft).
- After the transaction, flows that must move are evicted: UDP flows and
  affinity entries pointing at a backend that failed its checks, and affinity
  entries pointing at a backend that is no longer in the set. TCP flows are
  never evicted: they drain until they close or idle out.
- `close` removes our table and nothing else.
- Thread-safe: one lock serializes every change.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Callable
from ipaddress import IPv4Address, ip_address

from lbcommon.model import Protocol
from nodeproxy import netns
from nodeproxy.config import DataplaneConfig
from nodeproxy.nft import (
    RenderSettings,
    TableState,
    parse_counters,
    parse_elements,
    parse_state,
    render,
    transaction,
)

log = logging.getLogger(__name__)

#: neighbour states whose MAC address can be trusted
_USABLE_NEIGH = {"REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP"}


class DataplaneError(Exception):
    """nft refused a change; the message carries its diagnostics."""


def interface_mac(interface: str, *, namespace: str | None = None) -> str:
    links = json.loads(netns.run(namespace, ["ip", "-j", "link", "show", "dev", interface]))
    return str(links[0]["address"])


def neighbours(interface: str, *, namespace: str | None = None) -> dict[IPv4Address, str]:
    """IPv4 neighbours on `interface` with a usable link-layer address."""
    listing = netns.run(namespace, ["ip", "-j", "-4", "neigh", "show", "dev", interface])
    entries = json.loads(listing)
    result: dict[IPv4Address, str] = {}
    for entry in entries:
        states = set(entry.get("state") or [])
        if entry.get("lladdr") and states & _USABLE_NEIGH:
            addr = ip_address(entry["dst"])
            if isinstance(addr, IPv4Address):
                result[addr] = str(entry["lladdr"]).lower()
    return result


def interface_addresses(interface: str, *, namespace: str | None = None) -> frozenset[IPv4Address]:
    """The IPv4 addresses on `interface` (ours, so never in the neighbour table)."""
    links = json.loads(netns.run(namespace, ["ip", "-j", "-4", "addr", "show", "dev", interface]))
    return frozenset(
        IPv4Address(info["local"])
        for link in links
        for info in link.get("addr_info", [])
        if info.get("family") == "inet" and info.get("local")
    )


def link_layer_addresses(
    interface: str, mac: str, *, namespace: str | None = None
) -> dict[IPv4Address, str]:
    """Where each address on `interface`'s link is: the neighbours, and ourselves.

    Our own node is a backend like any other (its packets go up our own
    stack): without our addresses here the announcing node could never
    deliver to itself, and a Local Service whose endpoints all run on it
    would fail open to nodes that have none.
    """
    macs = neighbours(interface, namespace=namespace)
    macs.update(dict.fromkeys(interface_addresses(interface, namespace=namespace), mac.lower()))
    return macs


def _outside(allowed: frozenset[str]) -> Callable[[str], bool]:
    return lambda mac: mac not in allowed


class Dataplane:
    """Our nftables table on one interface."""

    def __init__(self, settings: RenderSettings, *, namespace: str | None = None) -> None:
        self.settings = settings
        self._ns = namespace
        self._lock = threading.Lock()
        self._applied: DataplaneConfig | None = None

    def _nft(self, *args: str, stdin: str | None = None) -> str:
        try:
            return netns.run(self._ns, ["nft", *args], stdin=stdin)
        except subprocess.CalledProcessError as err:
            raise DataplaneError(f"nft {' '.join(args)}: {err.stderr.strip()}") from err

    def _state(self) -> TableState | None:
        try:
            listing = self._nft("-j", "list", "table", "netdev", self.settings.table)
        except DataplaneError:
            return None
        return parse_state(listing)

    def apply(self, config: DataplaneConfig) -> bool:
        """Make the kernel match `config`; return False if it already did."""
        with self._lock:
            if config == self._applied:
                return False
            script = transaction(render(config, self.settings), self._state())
            if script:
                self._nft("-f", "-", stdin=script)
            self._evict(config)
            self._applied = config
            return True

    def _evict(self, config: DataplaneConfig) -> None:
        for listener in config.listeners:
            allowed = frozenset(b.mac for b in listener.backends)
            if listener.protocol is Protocol.UDP and listener.evicted:
                self._delete_where(f"flow_{listener.name}", listener.evicted.__contains__)
            if listener.affinity_timeout is not None:
                self._delete_where(f"aff_{listener.name}", _outside(allowed))

    def _delete_where(self, name: str, doomed: Callable[[str], bool]) -> None:
        t = f"netdev {self.settings.table}"
        try:
            pairs = parse_elements(self._nft("-j", "list", "map", *t.split(), name))
        except DataplaneError:
            return
        keys = [key for key, mac in pairs if doomed(mac.lower())]
        if keys:
            log.info("evicting %d entries of %s", len(keys), name)
            try:
                self._nft("delete", "element", *t.split(), name, "{ " + ", ".join(keys) + " }")
            except DataplaneError as err:  # an entry expired meanwhile: harmless
                log.debug("evict %s: %s", name, err)

    def counters(self) -> dict[str, tuple[int, int]]:
        """Named counters: name -> (packets, bytes); empty without a table."""
        try:
            return parse_counters(
                self._nft("-j", "list", "counters", "table", "netdev", self.settings.table)
            )
        except DataplaneError:
            return {}

    def close(self) -> None:
        with self._lock:
            if self._state() is not None:
                self._nft("delete", "table", "netdev", self.settings.table)
            self._applied = None
