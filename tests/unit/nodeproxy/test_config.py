"""Table-driven tests for nodeproxy.config: what gets served, where, and to whom."""

from __future__ import annotations

from collections import Counter
from ipaddress import IPv4Address, IPv4Network

import pytest

from lbcommon.model import (
    Ingress,
    NodeInfo,
    Protocol,
    ServicePort,
    ServiceSpec,
    SessionAffinity,
    TrafficPolicy,
)
from lbcommon.pools import Pool
from nodeproxy.config import (
    SLOTS,
    HealthTarget,
    Listener,
    NodeBackend,
    all_ips,
    build_config,
    health_targets,
)

pytestmark = pytest.mark.unit

POOLS = (Pool.parse("198.18.0.200-198.18.0.250"),)
LB = IPv4Address("198.18.0.200")
NODES = [
    NodeInfo(name="n1", internal_ip="198.18.0.11"),
    NodeInfo(name="n2", internal_ip="198.18.0.12"),
    NodeInfo(name="n3", internal_ip="198.18.0.13"),
]
MACS = {IPv4Address(f"198.18.0.1{i}"): f"02:00:00:00:00:1{i}" for i in (1, 2, 3)}


def svc(name: str = "web", **fields: object) -> ServiceSpec:
    base: dict[str, object] = {
        "namespace": "default",
        "name": name,
        "uid": f"uid-{name}",
        "type": "LoadBalancer",
        "load_balancer_class": None,
        "ports": (
            ServicePort("http", Protocol.TCP, 80, 30080),
            ServicePort("dns", Protocol.UDP, 53, 30053),
        ),
        "ingress": (Ingress(ip=str(LB)),),
    }
    base.update(fields)
    return ServiceSpec(**base)  # type: ignore[arg-type]


def hc(ip: str, port: int = 10256) -> HealthTarget:
    return HealthTarget(IPv4Address(ip), port)


ALL_HEALTHY = {hc(f"198.18.0.1{i}"): True for i in (1, 2, 3)}


def build(
    services: list[ServiceSpec],
    *,
    nodes: list[NodeInfo] = NODES,
    owned: set[IPv4Address] | None = None,
    health: dict[HealthTarget, bool] = ALL_HEALTHY,
    macs: dict[IPv4Address, str] = MACS,
) -> tuple[Listener, ...]:
    config = build_config(
        services=services,
        nodes=nodes,
        pools=POOLS,
        owned={LB} if owned is None else owned,
        health=health,
        macs=macs,
    )
    return config.listeners


@pytest.mark.parametrize(
    ("service", "served"),
    [
        pytest.param(svc(), True, id="in-pool"),
        pytest.param(svc(ingress=(Ingress(ip="10.0.0.1"),)), False, id="ip-outside-pools"),
        pytest.param(svc(ingress=()), False, id="no-ingress-yet"),
        pytest.param(svc(type="NodePort"), False, id="not-a-load-balancer"),
        pytest.param(svc(deleting=True), False, id="being-deleted"),
        pytest.param(svc(ingress=(Ingress(hostname="lb.example"),)), False, id="hostname-only"),
    ],
)
def test_which_services_are_served(service: ServiceSpec, served: bool) -> None:
    assert bool(build([service])) is served


def test_only_owned_ips_get_listeners() -> None:
    assert build([svc()], owned=set()) == ()
    assert all_ips([svc()], POOLS) == {LB}


@pytest.mark.parametrize(
    ("nodes", "health", "macs", "expected"),
    [
        pytest.param(NODES, ALL_HEALTHY, MACS, {"n1", "n2", "n3"}, id="all-healthy"),
        pytest.param(
            NODES, {**ALL_HEALTHY, hc("198.18.0.12"): False}, MACS, {"n1", "n3"}, id="one-failing"
        ),
        pytest.param(NODES, {hc("198.18.0.13"): True}, MACS, {"n3"}, id="unchecked-wait"),
        pytest.param(
            NODES,
            {k: False for k in ALL_HEALTHY},
            MACS,
            {"n1", "n2", "n3"},
            id="none-healthy-fails-open",
        ),
        pytest.param(
            [*NODES[:2], NodeInfo(name="n3", internal_ip="198.18.0.13", excluded=True)],
            ALL_HEALTHY,
            MACS,
            {"n1", "n2"},
            id="excluded-node",
        ),
        pytest.param(
            [*NODES[:2], NodeInfo(name="n3", internal_ip="198.18.0.13", to_be_deleted=True)],
            ALL_HEALTHY,
            MACS,
            {"n1", "n2"},
            id="to-be-deleted-node",
        ),
        pytest.param(
            [*NODES[:2], NodeInfo(name="n3", internal_ip=None)],
            ALL_HEALTHY,
            MACS,
            {"n1", "n2"},
            id="node-without-address",
        ),
        pytest.param(
            NODES,
            ALL_HEALTHY,
            {k: v for k, v in MACS.items() if k != IPv4Address("198.18.0.11")},
            {"n2", "n3"},
            id="mac-unknown",
        ),
        pytest.param([], {}, MACS, set(), id="no-nodes"),
    ],
)
def test_backends(
    nodes: list[NodeInfo],
    health: dict[HealthTarget, bool],
    macs: dict[IPv4Address, str],
    expected: set[str],
) -> None:
    listeners = build([svc()], nodes=nodes, health=health, macs=macs)
    assert listeners
    for listener in listeners:
        assert {b.name for b in listener.backends} == expected
        assert {b.mac for b in listener.backends} <= set(MACS.values())


def test_failed_backends_are_evicted_only_while_others_are_healthy() -> None:
    [tcp, _] = build([svc()], health={**ALL_HEALTHY, hc("198.18.0.12"): False})
    assert tcp.evicted == {"02:00:00:00:00:12"}
    [tcp, _] = build([svc()], health={k: False for k in ALL_HEALTHY})
    assert tcp.evicted == frozenset()


@pytest.mark.parametrize(
    ("fields", "port", "path"),
    [
        pytest.param({}, 10256, "/healthz", id="cluster-uses-kube-proxy"),
        pytest.param(
            {"external_traffic_policy": TrafficPolicy.LOCAL, "health_check_node_port": 31000},
            31000,
            "/healthz",
            id="local-uses-health-check-node-port",
        ),
    ],
)
def test_health_targets(fields: dict[str, object], port: int, path: str) -> None:
    targets = health_targets([svc(**fields)], NODES, POOLS)
    assert targets == {HealthTarget(ip, port, path) for ip in MACS}


def test_listener_fields() -> None:
    spec = svc(
        source_ranges=("10.0.0.0/8", "192.168.1.0/24"),
        session_affinity=SessionAffinity.CLIENT_IP,
        affinity_timeout=30,
    )
    [tcp, udp] = build([spec])
    assert (tcp.protocol, tcp.port) == (Protocol.TCP, 80)
    assert (udp.protocol, udp.port) == (Protocol.UDP, 53)
    assert tcp.source_ranges == (IPv4Network("10.0.0.0/8"), IPv4Network("192.168.1.0/24"))
    assert tcp.affinity_timeout == 30
    assert build([svc()])[0].affinity_timeout is None


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"source_ranges": ("10.0.0.1/8",)}, id="host-bits-set"),
        pytest.param({"ports": (ServicePort("x", Protocol.SCTP, 9, 30009),)}, id="sctp"),
        pytest.param(
            {"external_traffic_policy": TrafficPolicy.LOCAL}, id="local-without-health-port"
        ),
    ],
)
def test_invalid_services_are_skipped_never_widened(fields: dict[str, object]) -> None:
    config = build_config(
        services=[svc(**fields)], nodes=NODES, pools=POOLS, owned={LB}, health={}, macs=MACS
    )
    assert config.listeners == ()
    assert config.problems and config.problems[0].startswith("default/web")


def test_a_service_without_node_ports_is_served_at_its_ingress_ip() -> None:
    """Packets reach the backend unchanged; kube-proxy there takes the ingress IP."""
    [listener] = build(
        [svc(ports=(ServicePort("x", Protocol.TCP, 9, None),), allocate_node_ports=False)]
    )
    assert (listener.ip, listener.protocol, listener.port) == (LB, Protocol.TCP, 9)
    assert listener.backends


def test_two_services_on_one_ip_and_port_first_key_wins() -> None:
    config = build_config(
        services=[svc("b"), svc("a")], nodes=NODES, pools=POOLS, owned={LB}, health={}, macs=MACS
    )
    assert {lst.service for lst in config.listeners} == {"default/a"}
    assert any("already served" in p for p in config.problems)


def _listener(names: list[str]) -> Listener:
    backends = tuple(
        NodeBackend(n, IPv4Address("198.18.0.1"), f"02:00:00:00:00:{ord(n):02x}", hc("198.18.0.1"))
        for n in names
    )
    return Listener(
        service="d/s",  # type: ignore[arg-type]
        ip=LB,
        protocol=Protocol.TCP,
        port=80,
        source_ranges=(),
        affinity_timeout=None,
        backends=backends,
    )


def test_slot_table_is_balanced_and_moves_only_what_it_must() -> None:
    three = _listener(["a", "b", "c"]).slot_table()
    assert len(three) == SLOTS
    assert min(Counter(three).values()) > SLOTS / 3 * 0.7
    two = _listener(["a", "c"]).slot_table()
    removed = "02:00:00:00:00:62"  # b
    # Every slot not on the removed backend keeps its backend.
    assert all(
        after == before for before, after in zip(three, two, strict=True) if before != removed
    )
    assert _listener([]).slot_table() == ()
