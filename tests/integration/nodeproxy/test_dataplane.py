"""The kernel data plane in namespaces: forwarding, health, ranges, affinity, draining.

Each test serves a Service on the lab's LB IP through a fresh Engine (the
same code the agent runs, minus Kubernetes and announcement) and talks to it
from the client namespaces.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import pytest

from lbcommon.model import KUBE_PROXY_HEALTH_PORT, NodeInfo, ServiceSpec, SessionAffinity
from nodeproxy.engine import Engine
from tests.integration.nodeproxy.conftest import (
    NODES,
    OTHER_PORT,
    TCP_PORT,
    UDP_PORT,
    EngineFactory,
    Lab,
)
from tests.netns.servers import NodeServer, TcpSession, tcp_ask, udp_ask

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def backends_of(engine: Engine) -> set[str]:
    return {b.name for lst in engine.config.listeners for b in lst.backends}


def serve(
    engine: Engine,
    lab: Lab,
    spec: ServiceSpec,
    nodes: list[NodeInfo] | None = None,
    expect: set[str] | None = None,
) -> None:
    """Serve `spec` and wait until every expected node is healthy and in use."""
    engine.update(services=[spec], nodes=nodes or lab.node_infos(), owned={lab.lb_ip})
    wanted = set(NODES) if expect is None else expect
    wait_for(
        f"backends {sorted(wanted)}",
        lambda: backends_of(engine) == wanted and all(h for h in engine.health.snapshot().values()),
    )


def who(answer: str | None) -> str | None:
    return answer.split()[0] if answer else None


def ask_many(lab: Lab, n: int = 30) -> Counter[str | None]:
    return Counter(who(tcp_ask(lab.client.ns, lab.lb_ip, TCP_PORT)) for _ in range(n))


def test_tcp_reaches_every_node_and_keeps_the_client_address(
    lab: Lab, engine_factory: EngineFactory
) -> None:
    serve(engine_factory(), lab, lab.service())
    answers = [tcp_ask(lab.client.ns, lab.lb_ip, TCP_PORT) for _ in range(40)]
    assert all(answers), answers
    assert {who(a) for a in answers} == set(NODES)
    assert all(a and a.split()[1].startswith(f"{lab.client.ip}:") for a in answers)


def test_udp_reaches_nodes_and_a_flow_keeps_its_node(
    lab: Lab, engine_factory: EngineFactory
) -> None:
    serve(engine_factory(), lab, lab.service())
    seen = {
        who(udp_ask(lab.client.ns, lab.lb_ip, UDP_PORT, source_port=40000 + i)) for i in range(30)
    }
    assert seen == set(NODES)
    first = udp_ask(lab.client.ns, lab.lb_ip, UDP_PORT, source_port=41000)
    assert first and first.split()[1] == f"{lab.client.ip}:41000"
    again = {who(udp_ask(lab.client.ns, lab.lb_ip, UDP_PORT, source_port=41000)) for _ in range(10)}
    assert again == {who(first)}


def test_source_ranges_admit_only_the_listed_clients(
    lab: Lab, engine_factory: EngineFactory
) -> None:
    engine = engine_factory()
    serve(engine, lab, lab.service(source_ranges=(f"{lab.client.ip}/32",)))
    assert tcp_ask(lab.client.ns, lab.lb_ip, TCP_PORT)
    assert udp_ask(lab.client.ns, lab.lb_ip, UDP_PORT)
    assert tcp_ask(lab.stranger.ns, lab.lb_ip, TCP_PORT, timeout=1.0) is None
    assert udp_ask(lab.stranger.ns, lab.lb_ip, UDP_PORT) is None
    denied = engine.dataplane.counters()
    assert any(name.startswith("deny_") and packets for name, (packets, _) in denied.items())


def test_failing_node_gets_no_new_connections_within_3s_and_returns(
    lab: Lab, engine_factory: EngineFactory
) -> None:
    engine = engine_factory()
    serve(engine, lab, lab.service())
    lab.servers["node-a"].healthy = False
    started = time.monotonic()
    wait_for("node-a out", lambda: "node-a" not in backends_of(engine), timeout=5)
    assert time.monotonic() - started < 3.0
    assert "node-a" not in ask_many(lab)
    lab.servers["node-a"].healthy = True
    wait_for("node-a back", lambda: "node-a" in backends_of(engine), timeout=6)
    assert "node-a" in ask_many(lab)


def test_client_ip_affinity_sticks(lab: Lab, engine_factory: EngineFactory) -> None:
    engine = engine_factory()
    spec = lab.service(session_affinity=SessionAffinity.CLIENT_IP, affinity_timeout=60)
    serve(engine, lab, spec)
    assert len(ask_many(lab, 15)) == 1
    udp = {
        who(udp_ask(lab.client.ns, lab.lb_ip, UDP_PORT, source_port=42000 + i)) for i in range(10)
    }
    assert len(udp) == 1
    # Another client may land elsewhere, but it sticks too.
    other = {who(tcp_ask(lab.stranger.ns, lab.lb_ip, TCP_PORT)) for _ in range(10)}
    assert len(other) == 1


def test_connections_drain_on_a_removed_node(lab: Lab, engine_factory: EngineFactory) -> None:
    engine = engine_factory()
    serve(engine, lab, lab.service())
    sessions = [TcpSession(lab.client.ns, lab.lb_ip, TCP_PORT) for _ in range(12)]
    try:
        owners = [who(s.ask()) for s in sessions]
        assert None not in owners
        gone = owners[0]
        assert gone is not None
        nodes = lab.node_infos(
            **{gone: NodeInfo(name=gone, internal_ip=str(lab.nodes[gone].ip), excluded=True)}
        )
        engine.update(nodes=nodes)
        wait_for(f"{gone} removed", lambda: gone not in backends_of(engine))
        # Established connections keep their node, the removed one included.
        assert [who(s.ask()) for s in sessions] == owners
        assert gone not in ask_many(lab)
    finally:
        for s in sessions:
            s.close()


def test_udp_flows_of_a_failed_node_move(lab: Lab, engine_factory: EngineFactory) -> None:
    engine = engine_factory()
    serve(engine, lab, lab.service())
    flows = {
        port: who(udp_ask(lab.client.ns, lab.lb_ip, UDP_PORT, source_port=port))
        for port in range(43000, 43020)
    }
    victim = flows[43000]
    assert victim is not None
    lab.servers[victim].healthy = False
    wait_for(f"{victim} out", lambda: victim not in backends_of(engine), timeout=5)
    for port, owner in flows.items():
        now = who(udp_ask(lab.client.ns, lab.lb_ip, UDP_PORT, source_port=port))
        assert now is not None and now != victim
        if owner != victim:
            assert now == owner, "a flow on a healthy node must keep it"


def test_connection_limit_per_listener(lab: Lab, engine_factory: EngineFactory) -> None:
    engine = engine_factory(max_flows=4)
    serve(engine, lab, lab.service())
    sessions = [TcpSession(lab.client.ns, lab.lb_ip, TCP_PORT) for _ in range(4)]
    try:
        assert all(s.ask() for s in sessions)
        assert tcp_ask(lab.client.ns, lab.lb_ip, TCP_PORT, timeout=1.0) is None
        assert all(s.ask() for s in sessions), "established connections continue"
        full = engine.dataplane.counters()
        assert any(name.startswith("full_") and packets for name, (packets, _) in full.items())
    finally:
        for s in sessions:
            s.close()


def test_nothing_is_forwarded_but_to_node_listeners(
    lab: Lab, engine_factory: EngineFactory
) -> None:
    engine = engine_factory()
    serve(engine, lab, lab.service())
    # A port the Service does not have is not forwarded (the proxy refuses it).
    assert tcp_ask(lab.client.ns, lab.lb_ip, OTHER_PORT, timeout=1.0) is None
    # The proxy routes nothing: a client that uses it as a gateway gets nowhere.
    target = lab.topo.address(98)
    lab.rogue.run("ip", "addr", "add", f"{target}/32", "dev", "lo")
    lab.client.run("ip", "route", "add", f"{target}/32", "via", str(lab.proxy.ip))
    try:
        assert tcp_ask(lab.client.ns, target, TCP_PORT, timeout=1.0) is None
    finally:
        lab.client.run("ip", "route", "del", f"{target}/32")
        lab.rogue.run("ip", "addr", "del", f"{target}/32", "dev", "lo")
    # Only the nodes' MACs are ever a destination.
    table = lab.proxy.run("nft", "list", "table", "netdev", engine.dataplane.settings.table)
    assert lab.rogue.mac not in table
    assert all(lab.nodes[n].mac in table for n in NODES)


def test_a_service_outside_the_pools_is_not_served(lab: Lab, engine_factory: EngineFactory) -> None:
    engine = engine_factory()
    spec = lab.service(ingress=())
    engine.update(services=[spec], nodes=lab.node_infos(), owned={lab.lb_ip})
    engine.sync()
    assert engine.config.listeners == ()
    assert tcp_ask(lab.client.ns, lab.lb_ip, TCP_PORT, timeout=1.0) is None


def test_the_announcing_node_delivers_to_itself(lab: Lab, engine_factory: EngineFactory) -> None:
    """The node holding the LB IP is a backend too: when it is the only healthy one
    (a Local Service whose endpoints all run there), packets go up its own stack.

    Before issue 11's fix its own address had no MAC in the table (it is never
    its own neighbour), so it was left out and traffic failed open to the
    unhealthy nodes.
    """
    own = NodeServer(
        "proxy", lab.proxy.ns, tcp_ports=(TCP_PORT,), health_port=KUBE_PROXY_HEALTH_PORT
    )
    try:
        engine = engine_factory()
        nodes = [*lab.node_infos(), NodeInfo(name="proxy", internal_ip=str(lab.proxy.ip))]
        serve(engine, lab, lab.service(), nodes=nodes, expect={*NODES, "proxy"})
        for name in NODES:
            lab.servers[name].healthy = False
        wait_for("only the proxy's own node left", lambda: backends_of(engine) == {"proxy"})
        assert ask_many(lab) == Counter({"proxy": 30})
    finally:
        own.close()
