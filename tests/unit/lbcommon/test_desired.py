"""desired_load_balancer: what a Service asks for, and every way it can be wrong."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from lbcommon.desired import (
    TCP_AND_UDP,
    ClassPolicy,
    desired_load_balancer,
    eligible_backends,
    node_port_problems,
    protocol_problems,
)
from lbcommon.errors import InvalidServiceError
from lbcommon.model import (
    KUBE_PROXY_HEALTH_PORT,
    OWNER_ANNOTATION,
    NodeInfo,
    Protocol,
    ServicePort,
    ServiceSpec,
    SessionAffinity,
    TrafficPolicy,
)

pytestmark = pytest.mark.unit

BASE = ServiceSpec(
    namespace="ns",
    name="web",
    uid="1234",
    type="LoadBalancer",
    load_balancer_class=None,
    ports=(ServicePort(name="http", protocol=Protocol.TCP, port=80, node_port=30080),),
)
NODES = (
    NodeInfo(name="b", internal_ip="198.18.0.11"),
    NodeInfo(name="a", internal_ip="198.18.0.10", zone="z1"),
)


@pytest.mark.parametrize(
    ("spec", "policy", "serves"),
    [
        (BASE, ClassPolicy("x.io/lb", default_class=True), True),
        (BASE, ClassPolicy("x.io/lb"), False),
        (replace(BASE, load_balancer_class="x.io/lb"), ClassPolicy("x.io/lb"), True),
        (
            replace(BASE, load_balancer_class="y.io/lb"),
            ClassPolicy("x.io/lb", default_class=True),
            False,
        ),
        (replace(BASE, type="NodePort"), ClassPolicy("x.io/lb", default_class=True), False),
    ],
    ids=["classless-default", "classless-not-default", "our-class", "other-class", "not-lb"],
)
def test_class_policy(spec: ServiceSpec, policy: ClassPolicy, serves: bool) -> None:
    assert policy.serves(spec) is serves


def test_a_valid_service_becomes_a_load_balancer() -> None:
    lb = desired_load_balancer(
        replace(BASE, session_affinity=SessionAffinity.CLIENT_IP, affinity_timeout=60), NODES
    )
    assert lb.key == "ns/web"
    assert [(p.protocol, p.port, p.node_port) for p in lb.ports] == [(Protocol.TCP, 80, 30080)]
    assert [b.name for b in lb.backends] == ["a", "b"]  # sorted: stable diffs
    assert lb.health_check.port == KUBE_PROXY_HEALTH_PORT
    assert not lb.health_check.per_service
    assert lb.session_affinity is SessionAffinity.CLIENT_IP
    assert lb.affinity_timeout == 60
    assert lb.source_ranges == ()


def test_local_policy_checks_the_health_check_node_port() -> None:
    lb = desired_load_balancer(
        replace(BASE, external_traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=31000),
        NODES,
    )
    assert (lb.health_check.port, lb.health_check.path, lb.health_check.per_service) == (
        31000,
        "/healthz",
        True,
    )


@pytest.mark.parametrize(
    ("node", "eligible"),
    [
        (NodeInfo("n", "198.18.0.10"), True),
        (NodeInfo("n", None), False),
        (NodeInfo("n", "198.18.0.10", excluded=True), False),
        (NodeInfo("n", "198.18.0.10", deleting=True), False),
        (NodeInfo("n", "198.18.0.10", to_be_deleted=True), False),
    ],
    ids=["plain", "no-internal-ip", "exclusion-label", "being-deleted", "autoscaler-taint"],
)
def test_node_eligibility(node: NodeInfo, eligible: bool) -> None:
    assert bool(eligible_backends([node])) is eligible


def test_source_ranges_are_parsed_and_sorted() -> None:
    lb = desired_load_balancer(
        replace(BASE, source_ranges=("198.18.1.0/24", "10.0.0.0/8", "10.0.0.0/8")), NODES
    )
    assert lb.source_ranges == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("198.18.1.0/24"),
    )


def test_the_field_wins_over_the_annotation() -> None:
    lb = desired_load_balancer(
        replace(BASE, source_ranges=("10.0.0.0/8",), source_ranges_annotation="0.0.0.0/0"), NODES
    )
    assert lb.source_ranges == (ipaddress.ip_network("10.0.0.0/8"),)


def test_annotation_items_may_carry_spaces() -> None:
    lb = desired_load_balancer(
        replace(BASE, source_ranges_annotation=" 10.0.0.0/8 , 198.18.1.0/24"), NODES
    )
    assert len(lb.source_ranges) == 2


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (
            replace(BASE, source_ranges=("10.0.0.1/24",)),
            "spec.loadBalancerSourceRanges[0]",
            "host bits",
        ),
        (
            replace(BASE, source_ranges=("1.2.3.4/0",)),
            "spec.loadBalancerSourceRanges[0]",
            "host bits",
        ),
        (
            replace(BASE, source_ranges=("10.0.0.0/8", "2001:db8::/32")),
            "spec.loadBalancerSourceRanges[1]",
            "IPv6",
        ),
        (
            replace(BASE, source_ranges_annotation="10.0.0.0/8,,198.18.0.0/24"),
            "load-balancer-source-ranges][1]",
            "empty",
        ),
        (
            replace(BASE, source_ranges_annotation="10.0.0.0/8,nonsense"),
            "load-balancer-source-ranges][1]",
            "not a CIDR",
        ),
        (replace(BASE, ports=()), "spec.ports", "at least one"),
        (replace(BASE, load_balancer_ip="not-an-ip"), "spec.loadBalancerIP", "not an IP"),
        (
            replace(BASE, external_traffic_policy=TrafficPolicy.LOCAL),
            "spec.healthCheckNodePort",
            "Local",
        ),
    ],
    ids=[
        "host-bits",
        "unmasked-slash-zero",
        "ipv6-range-on-ipv4",
        "empty-annotation-item",
        "annotation-garbage",
        "no-ports",
        "bad-lb-ip",
        "local-no-hc-port",
    ],
)
def test_invalid_input_names_the_field(spec: ServiceSpec, field: str, words: str) -> None:
    with pytest.raises(InvalidServiceError) as raised:
        desired_load_balancer(spec, NODES)
    message = str(raised.value)
    assert field in message
    assert words in message


def test_every_problem_is_reported_at_once() -> None:
    spec = replace(BASE, source_ranges=("10.0.0.1/24", "bogus"), load_balancer_ip="not-an-ip")
    with pytest.raises(InvalidServiceError) as raised:
        desired_load_balancer(spec, NODES)
    assert len(raised.value.problems) == 3


def test_every_protocol_the_api_allows_is_taken() -> None:
    """Which protocols a load balancer carries is each provider's to say, not the domain's."""
    sctp = replace(BASE, ports=(ServicePort("s", Protocol.SCTP, 80, 30001),))
    assert [p.protocol for p in desired_load_balancer(sctp, NODES).ports] == [Protocol.SCTP]


@pytest.mark.parametrize(
    ("protocols", "fields"),
    [
        pytest.param((Protocol.TCP, Protocol.UDP), [], id="tcp-udp"),
        pytest.param((Protocol.SCTP,), ["spec.ports[0].protocol"], id="sctp"),
        pytest.param(
            (Protocol.TCP, Protocol.SCTP, Protocol.SCTP),
            ["spec.ports[1].protocol", "spec.ports[2].protocol"],
            id="sctp-beside-tcp",
        ),
    ],
)
def test_protocol_problems_name_each_port(
    protocols: tuple[Protocol, ...], fields: list[str]
) -> None:
    ports = tuple(
        ServicePort(f"p{i}", protocol, 80 + i, 30001 + i) for i, protocol in enumerate(protocols)
    )
    lb = desired_load_balancer(replace(BASE, ports=ports), NODES)
    problems = protocol_problems(lb, TCP_AND_UDP, by="a test plane")
    assert [p.field for p in problems] == fields
    assert all("not supported by a test plane (use TCP or UDP)" in p.reason for p in problems)


def test_zero_eligible_nodes_is_not_an_error() -> None:
    lb = desired_load_balancer(BASE, [NodeInfo("n", "198.18.0.10", excluded=True)])
    assert lb.backends == ()


def test_claiming_a_service_does_not_change_its_load_balancer() -> None:
    """lbctl's ownership annotation, added with the finalizer, is no request of the user's."""
    claimed = replace(BASE, annotations=(*BASE.annotations, (OWNER_ANNOTATION, "lbctl.io/lbctl")))
    assert desired_load_balancer(claimed, NODES) == desired_load_balancer(BASE, NODES)


def test_without_node_ports_the_load_balancer_is_built_and_node_port_providers_refuse() -> None:
    """allocateLoadBalancerNodePorts: false is each provider's call (issue 11)."""
    spec = replace(
        BASE,
        ports=(
            ServicePort("http", Protocol.TCP, 80, None),
            ServicePort("dns", Protocol.UDP, 53, 30053),
        ),
        allocate_node_ports=False,
    )
    lb = desired_load_balancer(spec, NODES)
    assert [(p.port, p.node_port) for p in lb.ports] == [(80, None), (53, 30053)]
    problems = node_port_problems(lb, by="an NLB")
    assert [(p.field, p.reason) for p in problems] == [
        (
            "spec.ports[0].nodePort",
            "no node port allocated, but an NLB forwards to node ports: "
            "spec.allocateLoadBalancerNodePorts must not be false",
        )
    ]
    assert node_port_problems(desired_load_balancer(BASE, NODES), by="an NLB") == []
