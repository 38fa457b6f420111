"""Network plumbing of the local cluster: the bridge, node namespaces, routes.

Guarantees:
- nothing is created before the root namespace has its safety net, an
  `unreachable` route for 198.18.0.0/15 (DESIGN.md address plan), so a
  packet for the cluster's ranges never leaves the machine even when a more
  specific route is missing;
- no namespace ever gets a default route: a node namespace knows its own
  /24 on the bridge, the other nodes' pod /24s via their IPs, and the rest of
  198.18.0.0/15 via the bridge address, nothing else;
- every call is idempotent (creating what exists, deleting what is gone are
  no-ops), so a crashed run can be cleaned by calling the deletes again.

All changes go through `ip` and `sysctl` (iproute2, procps).
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SAFETY_NET = "198.18.0.0/15"
BRIDGE = "lbk0"
BRIDGE_ADDRESS = "198.18.0.1"
BRIDGE_PREFIX = 24
#: load-balancer addresses for lbctl's local provider: on the bridge's L2, so
#: ARP from the root namespace reaches the node that announces one
LB_POOL = "198.18.0.200-198.18.0.250"
NETNS_DIR = Path("/run/netns")

#: Sysctls every node namespace gets: forward pod traffic, pass bridged
#: traffic through netfilter (Service DNAT between pods on one bridge needs
#: it), no IPv6 at all (the cluster is IPv4-only and must stay quiet).
NODE_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
}


class NetworkError(RuntimeError):
    """An `ip` command failed; the message has its stderr."""


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Run `ip [-n netns] args...` and return its stdout."""
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    """Wrap `argv` to run in `netns` without leaving the root mount namespace.

    `ip netns exec` would remount /sys (hiding the cgroup mounts the kubelet
    needs); nsenter only switches the network namespace.
    """
    return ["nsenter", f"--net={NETNS_DIR / netns}", "--", *argv]


def ensure_safety_net() -> None:
    """Add the root namespace's unreachable route for 198.18.0.0/15 if missing."""
    routes = ip("-4", "route", "show", "table", "main", "exact", SAFETY_NET)
    if "unreachable" not in routes:
        ip("route", "replace", "unreachable", SAFETY_NET)
        log.info("added safety route unreachable %s", SAFETY_NET)


def link_exists(name: str, *, netns: str | None = None) -> bool:
    return bool(ip("-o", "link", "show", "dev", name, netns=netns, check=False).strip())


def ensure_bridge() -> None:
    """Create `lbk0` with 198.18.0.1/24 in the root namespace (after the safety net)."""
    ensure_safety_net()
    if not link_exists(BRIDGE):
        ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "replace", f"{BRIDGE_ADDRESS}/{BRIDGE_PREFIX}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")


def delete_bridge() -> None:
    """Delete `lbk0`; every route through it goes with it."""
    if link_exists(BRIDGE):
        ip("link", "del", BRIDGE)


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def list_netns(prefix: str) -> list[str]:
    """Names of network namespaces whose name starts with `prefix`."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def set_sysctls(netns: str, values: dict[str, str]) -> None:
    args = [f"{key}={value}" for key, value in values.items()]
    proc = subprocess.run(
        in_netns(netns, ["sysctl", "-q", "-w", *args]), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise NetworkError(f"sysctl in {netns}: {proc.stderr.strip()}")


@dataclass(frozen=True)
class NodeLink:
    """A node namespace wired to the bridge: its name, IP and root-side veth."""

    netns: str
    address: str
    host_veth: str


def veth_name(address: str) -> str:
    """Root-side veth name for a node IP (15-character limit): lbkv<last octet>."""
    return f"lbkv{ipaddress.ip_address(address).packed[-1]}"


def create_node_netns(netns: str, address: str) -> NodeLink:
    """Create namespace `netns` with eth0 = `address`/24 on `lbk0`.

    Its only routes: the bridge subnet (connected) and 198.18.0.0/15 via the
    bridge address, so Service IPs route from the node itself while nothing
    outside the benchmarking range is reachable.
    """
    ensure_bridge()
    host = veth_name(address)
    if not netns_exists(netns):
        ip("netns", "add", netns)
    if not link_exists(host):
        ip("link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", netns)
    ip("link", "set", host, "master", BRIDGE, "up")
    ip("link", "set", "lo", "up", netns=netns)
    ip("addr", "replace", f"{address}/{BRIDGE_PREFIX}", "dev", "eth0", netns=netns)
    ip("link", "set", "eth0", "up", netns=netns)
    ip("route", "replace", SAFETY_NET, "via", BRIDGE_ADDRESS, "dev", "eth0", netns=netns)
    set_sysctls(netns, NODE_SYSCTLS)
    return NodeLink(netns=netns, address=address, host_veth=host)


def delete_netns(netns: str) -> None:
    """Delete a node namespace; its veth pair, routes and netfilter rules go with it."""
    if netns_exists(netns):
        ip("netns", "del", netns, check=False)
    # `ip netns del` leaves the mount point if something still holds it.
    path = NETNS_DIR / netns
    if path.exists():
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
        path.unlink(missing_ok=True)


def replace_route(cidr: str, via: str, *, netns: str | None = None) -> None:
    """Route `cidr` via `via` (in `netns`, or the root namespace)."""
    dev = "eth0" if netns else BRIDGE
    ip("route", "replace", cidr, "via", via, "dev", dev, netns=netns)


def install_pod_routes(pod_cidrs: dict[str, str], netns_of: dict[str, str]) -> None:
    """Route each node's pod CIDR via its IP, from the root and every other node.

    `pod_cidrs` maps node IP -> pod CIDR, `netns_of` maps node IP -> netns.
    """
    for address, cidr in pod_cidrs.items():
        replace_route(cidr, address)
        for other, netns in netns_of.items():
            if other != address:
                replace_route(cidr, address, netns=netns)
