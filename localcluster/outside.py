"""The outside world: a client network one routed hop away from the nodes.

Real clients of a load balancer sit on other networks, behind routers; tools
written for real clusters assume so (for instance that a client address
inside the nodes' /16 was masqueraded), and a direct-server-return data plane
hides routing mistakes (the reply path, reverse-path filtering, ARP for the
client) from a client on the nodes' own L2. So the runner's probes, the
demo's request and the benchmarks' clients come from here:

    lbctl-client  eth0 198.19.100.10/24
        |  (veth)
    lbctl-router  eth1 198.19.100.1/24, eth0 198.18.0.2/24 on lbk0, forwarding
        |  (bridge lbk0)
    nodes 198.18.0.10+, root namespace 198.18.0.1 (the apiserver)

Guarantees:
- the client network, 198.19.100.0/24, shares no /16 with the nodes
  (198.18.0.0/24) and lies outside the cluster CIDR (pods, 198.19.0.0/18), so
  kube-proxy treats its packets as external;
- no namespace gets a default route and the root namespace forwards nothing:
  the router is a namespace of its own, routing only between the client
  network and the node bridge (plus the pod /24s, via their nodes); the
  client routes only 198.18.0.0/15, via the router;
- nodes and the root namespace route the client network via the router, so
  replies cross the hop too (the root namespace only ever answers, e.g. the
  apiserver to a client-side kubectl);
- `entered()` moves only the calling thread: sockets it creates meanwhile
  belong to the client network for their whole life, wherever they are used.

Both namespaces carry the cluster's `lbctl-` prefix, so teardown removes them
with the nodes.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

from localcluster import netns

CLIENT_NETNS = "lbctl-client"
ROUTER_NETNS = "lbctl-router"
NETWORK = "198.19.100.0/24"
NETWORK_PREFIX = 24
ROUTER_OUTSIDE = "198.19.100.1"
CLIENT_ADDRESS = "198.19.100.10"
#: the router's leg on the node bridge (below the nodes' 198.18.0.10+)
ROUTER_ON_BRIDGE = "198.18.0.2"
#: root-side end of the router's bridge veth
ROUTER_VETH = "lbkr0"

ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}
CLIENT_SYSCTLS = {
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}

_CLONE_NEWNET = 0x40000000


def create() -> None:
    """Create the router and client namespaces and their routes (idempotent)."""
    netns.ensure_bridge()
    for name in (ROUTER_NETNS, CLIENT_NETNS):
        if not netns.netns_exists(name):
            netns.ip("netns", "add", name)
        netns.ip("link", "set", "lo", "up", netns=name)
    if not netns.link_exists(ROUTER_VETH):
        netns.ip(
            "link",
            "add",
            ROUTER_VETH,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ROUTER_NETNS,
        )
    netns.ip("link", "set", ROUTER_VETH, "master", netns.BRIDGE, "up")
    if not netns.link_exists("eth1", netns=ROUTER_NETNS):
        netns.ip(
            "link",
            "add",
            "eth1",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            CLIENT_NETNS,
            netns=ROUTER_NETNS,
        )
    router = [
        ("eth0", f"{ROUTER_ON_BRIDGE}/{netns.BRIDGE_PREFIX}"),
        ("eth1", f"{ROUTER_OUTSIDE}/{NETWORK_PREFIX}"),
    ]
    for dev, address in router:
        netns.ip("addr", "replace", address, "dev", dev, netns=ROUTER_NETNS)
        netns.ip("link", "set", dev, "up", netns=ROUTER_NETNS)
    netns.set_sysctls(ROUTER_NETNS, ROUTER_SYSCTLS)
    netns.ip(
        "addr", "replace", f"{CLIENT_ADDRESS}/{NETWORK_PREFIX}", "dev", "eth0", netns=CLIENT_NETNS
    )
    netns.ip("link", "set", "eth0", "up", netns=CLIENT_NETNS)
    netns.ip(
        "route",
        "replace",
        netns.SAFETY_NET,
        "via",
        ROUTER_OUTSIDE,
        "dev",
        "eth0",
        netns=CLIENT_NETNS,
    )
    netns.set_sysctls(CLIENT_NETNS, CLIENT_SYSCTLS)
    netns.replace_route(NETWORK, ROUTER_ON_BRIDGE)


def route_from_node(node_netns: str) -> None:
    """Send a node's replies for the client network through the router."""
    netns.replace_route(NETWORK, ROUTER_ON_BRIDGE, netns=node_netns)


def route_pods(pod_cidrs: dict[str, str]) -> None:
    """Let the router reach each node's pods via the node (node IP -> pod CIDR)."""
    for address, cidr in pod_cidrs.items():
        netns.replace_route(cidr, address, netns=ROUTER_NETNS)


def exists() -> bool:
    return netns.netns_exists(CLIENT_NETNS)


def _setns(fd: int, what: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns to {what}: {os.strerror(error)}")


@contextmanager
def entered() -> Iterator[None]:
    """Run the calling thread in the client namespace until the block ends."""
    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    client = os.open(netns.NETNS_DIR / CLIENT_NETNS, os.O_RDONLY)
    try:
        _setns(client, CLIENT_NETNS)
        try:
            yield
        finally:
            _setns(back, "the thread's own network namespace")
    finally:
        os.close(client)
        os.close(back)


def argv(command: list[str]) -> list[str]:
    """`command` run as a process in the client namespace."""
    return netns.in_netns(CLIENT_NETNS, command)
