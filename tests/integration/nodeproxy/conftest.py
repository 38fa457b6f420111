"""A lab for the data plane: clients, one proxy and three nodes on one bridge.

Module-scoped (building it costs about a second); each test gets a fresh
nodeproxy Engine whose table is removed afterwards, also on failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

import pytest

from lbcommon.model import (
    KUBE_PROXY_HEALTH_PORT,
    Ingress,
    NodeInfo,
    ServicePort,
    ServiceSpec,
)
from lbcommon.model import Protocol as L4  # noqa: N814 (typing.Protocol is used too)
from lbcommon.pools import Pool
from nodeproxy.dataplane import Dataplane, interface_mac
from nodeproxy.engine import Engine
from nodeproxy.health import HealthSettings
from nodeproxy.nft import RenderSettings
from tests.netns import Host, Topology, leftover_namespaces
from tests.netns.servers import NodeServer

NODES = ("node-a", "node-b", "node-c")
TCP_PORT = 80
UDP_PORT = 53
OTHER_PORT = 8080


@dataclass
class Lab:
    topo: Topology
    client: Host
    stranger: Host
    proxy: Host
    rogue: Host
    nodes: dict[str, Host]
    servers: dict[str, NodeServer]
    lb_ip: IPv4Address
    pool: Pool

    def node_infos(self, **overrides: NodeInfo) -> list[NodeInfo]:
        return [
            overrides.get(name, NodeInfo(name=name, internal_ip=str(self.nodes[name].ip)))
            for name in NODES
        ]

    def service(self, **fields: object) -> ServiceSpec:
        base: dict[str, object] = {
            "namespace": "default",
            "name": "web",
            "uid": "uid-web",
            "type": "LoadBalancer",
            "load_balancer_class": None,
            "ports": (
                ServicePort("http", L4.TCP, TCP_PORT, 30080),
                ServicePort("dns", L4.UDP, UDP_PORT, 30053),
            ),
            "ingress": (Ingress(ip=str(self.lb_ip)),),
        }
        base.update(fields)
        return ServiceSpec(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    topo = Topology()
    with topo:
        client = topo.add_host("client", 10)
        stranger = topo.add_host("stranger", 11)
        proxy = topo.add_host("proxy", 20)
        rogue = topo.add_host("rogue", 99)
        nodes = {name: topo.add_host(name, 30 + i) for i, name in enumerate(NODES)}
        lb_ip = topo.address(200)
        pool = Pool.parse(f"{topo.address(200)}-{topo.address(250)}")
        proxy.run("ip", "addr", "add", f"{lb_ip}/32", "dev", "eth0")
        servers: dict[str, NodeServer] = {}
        try:
            for host in (*nodes.values(), rogue):
                topo.emulate_kube_proxy(host, lb_ip)
                servers[host.role] = NodeServer(
                    host.role,
                    host.ns,
                    tcp_ports=(TCP_PORT, OTHER_PORT),
                    udp_ports=(UDP_PORT,),
                    health_port=KUBE_PROXY_HEALTH_PORT,
                )
            yield Lab(
                topo=topo,
                client=client,
                stranger=stranger,
                proxy=proxy,
                rogue=rogue,
                nodes=nodes,
                servers=servers,
                lb_ip=lb_ip,
                pool=pool,
            )
        finally:
            for server in servers.values():
                server.close()
    assert not leftover_namespaces(topo.prefix)


@pytest.fixture
def engine_factory(lab: Lab) -> Iterator[EngineFactory]:
    engines: list[Engine] = []

    def make(**settings: int) -> Engine:
        render = RenderSettings(
            interface="eth0",
            mac=interface_mac("eth0", namespace=lab.proxy.ns),
            **settings,  # type: ignore[arg-type]
        )
        engine = Engine(
            dataplane=Dataplane(render, namespace=lab.proxy.ns),
            pools=(lab.pool,),
            health=HealthSettings(),
            namespace=lab.proxy.ns,
        )
        engines.append(engine)
        return engine.start()

    try:
        yield make
    finally:
        for engine in engines:
            engine.stop()
            engine.dataplane.close()
        for server in lab.servers.values():
            server.healthy = True


class EngineFactory(Protocol):
    def __call__(self, **settings: int) -> Engine: ...
