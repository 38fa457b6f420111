"""The aws provider's pure core: names, validation, subnet choice, the ordered diff."""

from __future__ import annotations

import ipaddress

import pytest

from lbcommon.errors import InvalidServiceError
from lbcommon.model import (
    Backend,
    FrontendPort,
    HealthCheck,
    LoadBalancer,
    Protocol,
    ServiceKey,
    SessionAffinity,
)
from lbctl.providers.aws import diff, names
from lbctl.providers.aws.diff import Placement
from lbctl.providers.aws.placement import choose_subnets
from lbctl.providers.aws.spec import (
    CidrRule,
    NlbSpec,
    NodeRule,
    Target,
    TgProtocol,
    nlb_spec,
    node_rules,
)
from lbctl.providers.aws.state import (
    Health,
    Listener,
    Nlb,
    Resources,
    SecurityGroup,
    Subnet,
    TargetGroup,
)
from lbctl.providers.aws.steps import Step
from lbctl.providers.common.names import lb_name
from lbctl.providers.common.steps import changes

pytestmark = pytest.mark.unit

UID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
KEY = ServiceKey("ns/web")


def lb(
    *ports: tuple[Protocol, int, int | None],
    backends: tuple[Backend, ...] = (),
    ranges: tuple[str, ...] = (),
    **kw: object,
) -> LoadBalancer:
    return LoadBalancer(
        key=KEY,
        uid=UID,
        ports=tuple(FrontendPort(p, port, node) for p, port, node in ports),
        backends=backends,
        health_check=HealthCheck(port=10256),
        source_ranges=tuple(ipaddress.ip_network(r) for r in ranges),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("provider_id", "expected"),
    [
        ("aws:///us-east-1a/i-0abcdef0123456789", "i-0abcdef0123456789"),
        ("aws:////i-0abcdef0", "i-0abcdef0"),
        ("aws:///us-east-1a/i-0abcdef0123456789/", "i-0abcdef0123456789"),
        ("gce://project/zone/vm", None),
        ("aws:///us-east-1a/not-an-instance", None),
        ("", None),
        (None, None),
    ],
)
def test_instance_id_from_provider_id(provider_id: str | None, expected: str | None) -> None:
    assert names.instance_id(provider_id) == expected


def test_names_are_deterministic_short_and_recognisable() -> None:
    assert lb_name(UID) == "a0b1c2d3e4f5061728394a5b6c7d8e9f"
    assert names.LB_NAME_RE.match(lb_name(UID))
    for protocol in ("TCP", "UDP", "TCP_UDP"):
        name = names.tg_name(UID, protocol, 65535)
        assert len(name) <= 32 and names.TG_NAME_RE.match(name)
    assert names.sg_name(UID) == "k8s-elb-a0b1c2d3e4f5061728394a5b6c7d8e9f"


@pytest.mark.parametrize(
    ("tags", "owner"),
    [
        (names.ownership_tags("c1", KEY, UID), names.Owner(KEY, UID)),
        ({"kubernetes.io/cluster/c1": "shared", names.SERVICE_UID_TAG: UID}, None),
        ({"kubernetes.io/cluster/c2": "owned", names.SERVICE_UID_TAG: UID}, None),
        ({"kubernetes.io/cluster/c1": "owned"}, None),
    ],
    ids=["ours", "shared-is-not-owned", "other-cluster", "no-uid"],
)
def test_ownership_is_by_tags(tags: dict[str, str], owner: names.Owner | None) -> None:
    assert names.owner_from_tags(tags, "c1") == owner


def test_tcp_and_udp_on_one_port_become_tcp_udp() -> None:
    spec = nlb_spec(lb((Protocol.TCP, 53, 30053), (Protocol.UDP, 53, 30053)), cluster_id="c1")
    assert [(p.port, p.protocol) for p in spec.ports] == [(53, TgProtocol.TCP_UDP)]
    assert spec.cidr_rules == {CidrRule("tcp", 53, "0.0.0.0/0"), CidrRule("udp", 53, "0.0.0.0/0")}


@pytest.mark.parametrize(
    ("ports", "field", "words"),
    [
        ([(Protocol.SCTP, 80, 30080)], "spec.ports[0].protocol", "SCTP is not supported"),
        ([(Protocol.TCP, 53, 30053), (Protocol.UDP, 53, 30054)], "spec.ports[1].nodePort", "same"),
        ([(Protocol.TCP, 1000 + i, 31000 + i) for i in range(51)], "spec.ports", "at most 50"),
        (
            [(Protocol.TCP, 80, None)],
            "spec.ports[0].nodePort",
            "spec.allocateLoadBalancerNodePorts must not be false",
        ),
    ],
    ids=["sctp", "tcp-udp-two-node-ports", "too-many-ports", "no-node-ports"],
)
def test_invalid_ports(
    ports: list[tuple[Protocol, int, int | None]], field: str, words: str
) -> None:
    with pytest.raises(InvalidServiceError) as caught:
        nlb_spec(lb(*ports), cluster_id="c1")
    assert [(p.field, words in p.reason) for p in caught.value.problems] == [(field, True)]


def test_ranges_affinity_and_backends() -> None:
    backends = (
        Backend("a", "198.18.0.10", provider_id="aws:///z/i-0000000a"),
        Backend("b", "198.18.0.11", provider_id=None),
    )
    spec = nlb_spec(
        lb(
            (Protocol.TCP, 80, 30080),
            backends=backends,
            ranges=("10.0.0.0/8",),
            session_affinity=SessionAffinity.CLIENT_IP,
        ),
        cluster_id="c1",
    )
    assert spec.cidr_rules == {CidrRule("tcp", 80, "10.0.0.0/8")}
    assert spec.sticky
    assert spec.instances == ("i-0000000a",)


def subnet(ident: str, zone: str, **tags: str) -> Subnet:
    return Subnet(ident, zone, "vpc-1", tags)


def test_choose_subnets_one_per_zone_by_rule() -> None:
    ours = {"kubernetes.io/cluster/c1": "owned"}
    elb = {"kubernetes.io/role/elb": "1"}
    candidates = [
        Subnet("s-b2", "b", "vpc-1", ours),
        Subnet("s-b1", "b", "vpc-1", ours | elb),  # role/elb wins in its zone
        Subnet("s-a9", "a", "vpc-1", {"kubernetes.io/cluster/c1": "shared"}),
        Subnet("s-a1", "a", "vpc-1", {}),  # untagged: never
        Subnet("s-c1", "c", "vpc-1", elb | {"kubernetes.io/cluster/other": "owned"}),
        Subnet("s-d1", "d", "vpc-1", elb),  # role/elb and no other cluster: eligible
    ]
    assert [s.id for s in choose_subnets(candidates, "c1")] == ["s-a9", "s-b1", "s-d1"]


BACKEND = diff.Backend(
    "k8s-elb-backend-c1", SecurityGroup("sg-backend", "b", "vpc-1", {}, frozenset(), {})
)


def plan(spec: NlbSpec, res: Resources, backend: diff.Backend = BACKEND) -> list[Step]:
    return diff.plan_ensure(
        spec,
        res,
        backend=backend,
        allocation=None,
        placement=Placement(("subnet-a", "subnet-b")),
        vpc_id="vpc-1",
    )


def kinds(steps: list[Step]) -> list[tuple[str, str]]:
    return [(c.action.value, c.kind) for c in changes(steps)]


def test_plan_of_a_new_service_lists_every_step_in_order() -> None:
    backends = (Backend("a", "198.18.0.10", provider_id="aws:///z/i-0000000a"),)
    spec = nlb_spec(lb((Protocol.TCP, 80, 30080), backends=backends), cluster_id="c1")
    steps = plan(spec, Resources(uid=UID))
    assert kinds(steps) == [
        ("create", "security-group"),
        ("update", "security-group"),
        ("create", "load-balancer"),
        ("create", "target-group"),
        ("update", "target-group"),  # register
        ("create", "listener"),
    ]
    assert [str(c) for c in changes(steps)][2:] == [
        f"create load-balancer {spec.name}: network, in subnet-a, subnet-b",
        f"create target-group {spec.ports[0].tg_name}: TCP node port 30080",
        f"update target-group {spec.ports[0].tg_name}: register i-0000000a:30080",
        f"create listener {spec.name}:80: TCP -> {spec.ports[0].tg_name}",
    ]


def converged(spec: NlbSpec) -> Resources:
    """What exists once `spec` is built: the working copy the applied steps leave."""
    tg_arns = {p.tg_name: f"arn:tg:{p.tg_name}" for p in spec.ports}
    return Resources(
        uid=UID,
        lb=Nlb(
            "arn:lb",
            spec.name,
            "dns",
            "vpc-1",
            "network",
            "internet-facing",
            ("sg-own", "sg-backend"),
            dict(spec.tags),
            tuple(
                Listener(f"arn:l:{p.port}", p.port, p.protocol.value, tg_arns[p.tg_name])
                for p in spec.ports
            ),
            False,
        ),
        target_groups={
            p.tg_name: TargetGroup(
                tg_arns[p.tg_name],
                p.tg_name,
                p.protocol.value,
                diff.health_of(spec),
                dict(spec.tags),
                spec.sticky,
                spec.targets(p),
            )
            for p in spec.ports
        },
        sg=SecurityGroup("sg-own", spec.sg_name, "vpc-1", {}, spec.cidr_rules, {}),
    )


def test_converged_resources_plan_nothing_and_delete_reverses() -> None:
    spec = nlb_spec(lb((Protocol.TCP, 80, 30080)), cluster_id="c1")
    res = converged(spec)
    assert plan(spec, res) == []
    assert [str(c) for c in changes(diff.plan_delete(res))] == [
        f"delete load-balancer {spec.name}",
        f"delete target-group {spec.ports[0].tg_name}",
        f"delete security-group {spec.sg_name}: sg-own",
    ]


def test_changes_are_made_in_place_in_order() -> None:
    spec = nlb_spec(lb((Protocol.TCP, 80, 30080)), cluster_id="c1")
    res = converged(spec)
    tg = res.target_groups[spec.ports[0].tg_name]
    assert res.sg is not None
    res.sg = SecurityGroup(
        "sg-own", spec.sg_name, "vpc-1", {}, frozenset({CidrRule("tcp", 80, "10.0.0.0/8")}), {}
    )
    res.target_groups[tg.name] = TargetGroup(
        tg.arn,
        tg.name,
        tg.protocol,
        Health("HTTP", "31000", "/healthz"),
        tg.tags,
        True,
        frozenset({Target("i-stale", 30080)}),
    )
    assert [str(c) for c in changes(plan(spec, res))] == [
        f"update security-group {spec.sg_name}: allow tcp/80 from 0.0.0.0/0",
        f"update security-group {spec.sg_name}: revoke tcp/80 from 10.0.0.0/8",
        f"update target-group {tg.name}: health check HTTP:10256/healthz",
        f"update target-group {tg.name}: no stickiness",
        f"update target-group {tg.name}: deregister i-stale:30080",
    ]


def test_an_nlb_that_cannot_change_in_place_is_replaced() -> None:
    spec = nlb_spec(lb((Protocol.TCP, 80, 30080)), cluster_id="c1")
    res = converged(spec)
    steps = diff.plan_ensure(
        spec,
        res,
        backend=BACKEND,
        allocation="eipalloc-1",
        placement=Placement(("subnet-a",), "eipalloc-1"),
        vpc_id="vpc-1",
    )
    assert [str(c) for c in changes(steps)][:3] == [
        f"delete load-balancer {spec.name}",
        f"create load-balancer {spec.name}: network, in subnet-a with Elastic IP eipalloc-1",
        f"update load-balancer {spec.name}: enable cross-zone load balancing",
    ]
    assert diff.needs_new_lb(res.lb, "eipalloc-1") and not diff.needs_new_lb(res.lb, None)


def _group(ident: str, rules: dict[str, frozenset[NodeRule]]) -> SecurityGroup:
    return SecurityGroup(ident, ident, "vpc-1", {}, frozenset(), rules)


def test_backend_group_and_node_rules_are_cluster_wide() -> None:
    rules = node_rules((30000, 32767))
    assert rules == {
        NodeRule("tcp", 30000, 32767),
        NodeRule("udp", 30000, 32767),
        NodeRule("tcp", 10256, 10256),
    }
    fresh = diff.plan_backend(
        diff.Backend("k8s-elb-backend-c1"),
        (_group("sg-nodes", {}),),
        tags=names.backend_tags("c1"),
        vpc_id="vpc-1",
        rules=rules,
    )
    assert [str(c) for c in changes(fresh)] == [
        "create security-group k8s-elb-backend-c1: in vpc-1",
        "update node-security-group sg-nodes: allow tcp/10256, tcp/30000-32767, udp/30000-32767"
        " from (k8s-elb-backend-c1)",
    ]
    backend = _group("sg-backend", {})
    stale = frozenset({NodeRule("tcp", 30080, 30080)}) | rules
    again = diff.plan_backend(
        diff.Backend("k8s-elb-backend-c1", backend),
        (_group("sg-nodes", {backend.id: stale}),),
        tags={},
        vpc_id="vpc-1",
        rules=rules,
    )
    assert [str(c) for c in changes(again)] == [
        "update node-security-group sg-nodes: revoke tcp/30080 from sg-backend"
    ]
    done = diff.plan_backend(
        diff.Backend("k8s-elb-backend-c1", backend),
        (_group("sg-nodes", {backend.id: rules}),),
        tags={},
        vpc_id="vpc-1",
        rules=rules,
    )
    assert done == []
