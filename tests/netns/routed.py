"""A client one routed hop away from a Topology's hosts: the shape a cloud's
load balancer sits in (tests/fakes/gce/network.py, tests/fakes/aws_network.py).

    client 198.18.X.10 --veth-- router (eth1 198.18.X.1; eth0 on the bridge)
        --bridge-- hosts of the Topology (198.19.X.0/24)

X is the Topology's own third octet, so parallel workers never collide; the
client routes only 198.18.0.0/15, via the router; hosts route the client's
/24 via the router (`route_back`), so replies cross the hop too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address

from lbcommon.model import KUBE_PROXY_HEALTH_PORT
from tests.netns import Host, Topology, leftover_namespaces, sh
from tests.netns.servers import NodeServer


@dataclass(frozen=True)
class Outside:
    router: Host
    client_ns: str
    client_ip: IPv4Address
    network: str  # the client's /24

    def route_back(self, host: Host) -> None:
        """Let `host` answer the client through the router."""
        sh("ip", "-n", host.ns, "route", "add", self.network, "via", str(self.router.ip))


def add_outside(topo: Topology, *, router_index: int = 2) -> Outside:
    """A router on the topology's bridge and a client behind it."""
    prefix = f"198.18.{topo.subnet.network_address.packed[2]}"
    router = topo.add_host("router", router_index)
    client_ns = f"{topo.prefix}-client"
    topo._namespace(client_ns)  # the topology deletes it with the others
    sh("ip", "-n", router.ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0",
       "netns", client_ns)  # fmt: skip
    for ns, dev, index in ((router.ns, "eth1", 1), (client_ns, "eth0", 10)):
        sh("ip", "-n", ns, "addr", "add", f"{prefix}.{index}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    sh("ip", "-n", client_ns, "route", "add", "198.18.0.0/15", "via", f"{prefix}.1")
    sh("ip", "netns", "exec", router.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    return Outside(router, client_ns, IPv4Address(f"{prefix}.10"), f"{prefix}.0/24")


@dataclass
class NodesBehindRouter:
    """Hosts standing for nodes, each running a NodeServer, and a client one routed
    hop away: the world of the clouds' data-plane tests."""

    topo: Topology
    outside: Outside
    hosts: dict[str, Host]
    servers: dict[str, NodeServer]


@contextmanager
def nodes_behind_router(
    names: Sequence[str], *, tcp_ports: tuple[int, ...], setup: Callable[[Host], None] | None = None
) -> Iterator[NodesBehindRouter]:
    """A Topology with a host per name (from .30 on), each answering on `tcp_ports`
    and kube-proxy's health port, routed back to the client; `setup` runs on each
    host first. Everything is gone afterwards (checked)."""
    topo = Topology()
    servers: dict[str, NodeServer] = {}
    with topo:
        try:
            outside = add_outside(topo)
            hosts = {}
            for index, name in enumerate(names):
                host = topo.add_host(name, 30 + index)
                outside.route_back(host)
                if setup is not None:
                    setup(host)
                servers[name] = NodeServer(
                    name, host.ns, tcp_ports=tcp_ports, health_port=KUBE_PROXY_HEALTH_PORT
                )
                hosts[name] = host
            yield NodesBehindRouter(topo, outside, hosts, servers)
        finally:
            for server in servers.values():
                server.close()
    assert not leftover_namespaces(topo.prefix)
