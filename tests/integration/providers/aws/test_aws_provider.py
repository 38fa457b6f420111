"""The aws provider against moto over HTTP: create, every kind of update, delete.

After each step the test lists everything moto holds and checks that exactly
the expected resources exist (nothing more: no duplicates, no leaks).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from lbcommon.clock import FakeClock
from lbcommon.errors import InvalidServiceError, ProviderError, ThrottledError
from lbcommon.model import (
    FrontendPort,
    Ingress,
    Protocol,
    ServiceKey,
    SessionAffinity,
    TrafficPolicy,
)
from lbctl.metrics import Metrics
from lbctl.providers.aws import AwsProvider
from lbctl.providers.aws.inventory import MAX_AGE, VERIFY_PERIOD
from tests.fakes.aws import CLUSTER_ID, FaultInjector, MotoServer, World, is_mutating
from tests.integration.providers.aws.conftest import FAST_RETRY, ProviderFactory
from tests.integration.providers.aws.helpers import (
    BACKEND,
    LB_NAME,
    UID,
    backend_admitted,
    cloud,
    groups_of,
    nodes_of,
    ours,
    service_lb,
)

pytestmark = pytest.mark.integration

TG80 = "a0b1c2d3e4f5061728394-t80"
KEY = ServiceKey("default/web")
NOTHING = {"load_balancers": 0, "target_groups": 0, "security_groups": 0, "listeners": 0}


def instances(world: World, port: int) -> list[tuple[str, int]]:
    return sorted((instance, port) for _, instance in world.instances)


def test_create_builds_exactly_one_nlb(
    provider: AwsProvider, world: World, aws: tuple[Any, Any]
) -> None:
    ingress = provider.ensure(service_lb(world))

    state = cloud(aws)
    assert ours(state) == {
        "load_balancers": 1,
        "target_groups": 1,
        "security_groups": 1,
        "listeners": 1,
    }
    lb = state["load_balancers"][LB_NAME]
    assert ingress == (Ingress(hostname=lb["dns"]),)
    assert (lb["type"], lb["scheme"]) == ("network", "internet-facing")
    assert lb["subnets"] == sorted(world.subnets.values())  # one per zone, no decoys
    sg = state["security_groups"][f"k8s-elb-{LB_NAME}"]
    assert lb["security_groups"] == groups_of(state, LB_NAME)
    assert sg["ingress"] == {("tcp", "80", "0.0.0.0/0")}
    tg = state["target_groups"][TG80]
    assert lb["listeners"] == {(80, "TCP"): tg["arn"]}
    assert tg["protocol"] == "TCP"
    assert tg["health"] == ("HTTP", "10256", "/healthz")
    assert tg["targets"] == instances(world, 30080)
    assert not tg["sticky"]
    backend_admitted(state)
    expected_tags = {
        f"kubernetes.io/cluster/{CLUSTER_ID}": "owned",
        "kubernetes.io/service-name": "default/web",
        "lbctl.io/service-uid": UID,
    }
    for tags in (lb["tags"], tg["tags"], sg["tags"]):
        assert tags == expected_tags


def test_second_ensure_mutates_nothing(
    provider: AwsProvider, world: World, faults: FaultInjector
) -> None:
    lb = service_lb(world, ports=((80, "TCP", 30080), (53, "UDP", 30053)))
    first = provider.ensure(lb)
    faults.reset()

    assert provider.ensure(lb) == first
    assert faults.mutating() == []
    assert faults.requests == []  # served from the snapshot: no reads either


@pytest.mark.parametrize(
    ("ports", "listeners"),
    [
        pytest.param(
            ((80, "TCP", 30080), (443, "TCP", 30443)),
            {(80, "TCP"): "t80", (443, "TCP"): "t443"},
            id="add-port",
        ),
        pytest.param(((443, "TCP", 30443),), {(443, "TCP"): "t443"}, id="replace-port"),
        pytest.param(
            ((80, "TCP", 30080), (80, "UDP", 30080)), {(80, "TCP_UDP"): "tu80"}, id="tcp-to-tcp-udp"
        ),
        pytest.param(((80, "UDP", 30080),), {(80, "UDP"): "u80"}, id="tcp-to-udp"),
        pytest.param(((80, "TCP", 31000),), {(80, "TCP"): "t80"}, id="node-port-changes"),
    ],
)
def test_update_ports(
    provider: AwsProvider,
    world: World,
    aws: tuple[Any, Any],
    ports: tuple[tuple[int, str, int], ...],
    listeners: dict[tuple[int, str], str],
) -> None:
    provider.ensure(service_lb(world))

    provider.ensure(service_lb(world, ports=ports))

    state = cloud(aws)
    prefix = "a0b1c2d3e4f5061728394-"
    assert sorted(state["target_groups"]) == sorted(prefix + s for s in listeners.values())
    lb = state["load_balancers"][LB_NAME]
    assert lb["listeners"] == {
        key: state["target_groups"][prefix + suffix]["arn"] for key, suffix in listeners.items()
    }
    for port, _, node_port in ports:
        suffix = next(s for (p, _), s in listeners.items() if p == port)
        assert state["target_groups"][prefix + suffix]["targets"] == instances(world, node_port)
    sg = state["security_groups"][f"k8s-elb-{LB_NAME}"]
    assert sg["ingress"] == {(proto.lower(), str(port), "0.0.0.0/0") for port, proto, _ in ports}
    backend_admitted(state)
    assert ours(state)["load_balancers"] == 1


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(
            [["10.0.0.0/8"], ["10.0.0.0/8", "192.0.2.0/24"], ["192.0.2.0/24"]], id="narrow"
        ),
        pytest.param([["192.0.2.0/24"], []], id="back-to-open"),
    ],
)
def test_update_source_ranges(
    provider: AwsProvider, world: World, aws: tuple[Any, Any], steps: list[list[str]]
) -> None:
    provider.ensure(service_lb(world))
    for ranges in steps:
        provider.ensure(service_lb(world, ranges=ranges))

        sg = cloud(aws)["security_groups"][f"k8s-elb-{LB_NAME}"]
        assert sg["ingress"] == {("tcp", "80", cidr) for cidr in ranges or ["0.0.0.0/0"]}


def test_update_affinity(provider: AwsProvider, world: World, aws: tuple[Any, Any]) -> None:
    provider.ensure(service_lb(world))
    provider.ensure(service_lb(world, affinity=SessionAffinity.CLIENT_IP))
    assert cloud(aws)["target_groups"][TG80]["sticky"]

    provider.ensure(service_lb(world, affinity=SessionAffinity.NONE))
    assert not cloud(aws)["target_groups"][TG80]["sticky"]
    assert ours(cloud(aws))["target_groups"] == 1


def test_update_traffic_policy(provider: AwsProvider, world: World, aws: tuple[Any, Any]) -> None:
    provider.ensure(service_lb(world))
    lb_arn = cloud(aws)["load_balancers"][LB_NAME]["arn"]

    provider.ensure(service_lb(world, policy=TrafficPolicy.LOCAL, health_port=32100))

    state = cloud(aws)
    assert state["target_groups"][TG80]["health"] == ("HTTP", "32100", "/healthz")
    backend_admitted(state)  # 32100 lies in the node-port range the nodes admit
    assert state["load_balancers"][LB_NAME]["arn"] == lb_arn  # changed in place

    provider.ensure(service_lb(world))
    assert cloud(aws)["target_groups"][TG80]["health"] == ("HTTP", "10256", "/healthz")


def test_load_balancer_ip_uses_the_eip_and_never_releases_it(
    provider: AwsProvider, world: World, aws: tuple[Any, Any], faults: FaultInjector
) -> None:
    ip, allocation = world.allocate_eip()
    provider.ensure(service_lb(world))
    plain_arn = cloud(aws)["load_balancers"][LB_NAME]["arn"]
    faults.reset()

    provider.ensure(service_lb(world, ip=ip))

    state = cloud(aws)
    lb = state["load_balancers"][LB_NAME]
    assert lb["arn"] != plain_arn  # an NLB's addresses are fixed at creation: replaced
    assert lb["tags"]["lbctl.io/eip-allocation"] == allocation
    assert lb["cross_zone"] == "true"
    created = [p for op, p in faults.requests if op == "CreateLoadBalancer"]
    assert created[0]["SubnetMappings"] == [
        {"SubnetId": world.subnets["us-east-1a"], "AllocationId": allocation}
    ]
    assert ours(state) == {
        "load_balancers": 1,
        "target_groups": 1,
        "security_groups": 1,
        "listeners": 1,
    }

    provider.ensure(service_lb(world))  # loadBalancerIP removed: back to AWS-assigned
    assert "lbctl.io/eip-allocation" not in cloud(aws)["load_balancers"][LB_NAME]["tags"]

    provider.ensure(service_lb(world, ip=ip))
    provider.delete(KEY, UID)
    state = cloud(aws)
    assert ours(state) == {
        "load_balancers": 0,
        "target_groups": 0,
        "security_groups": 0,
        "listeners": 0,
    }
    assert state["addresses"] == {ip: allocation}  # the user's EIP survives


def test_load_balancer_ip_that_cannot_be_used(
    provider: AwsProvider, world: World, aws: tuple[Any, Any], faults: FaultInjector
) -> None:
    ip, _ = world.allocate_eip()
    other = "11111111-2222-3333-4444-555555555555"
    provider.ensure(service_lb(world, uid=other, name="first", ip=ip))
    elsewhere_ip, elsewhere = world.allocate_eip()
    aws[1].associate_address(AllocationId=elsewhere, InstanceId=world.instances[0][1])
    faults.reset()

    for wanted, reason in [
        ("198.51.100.7", "not an Elastic IP"),
        (ip, "in use by the load balancer of Service default/first"),
        (elsewhere_ip, "associated with something else"),
    ]:
        with pytest.raises(InvalidServiceError) as caught:
            provider.ensure(service_lb(world, ip=wanted))
        assert caught.value.problems[0].field == "spec.loadBalancerIP"
        assert reason in caught.value.problems[0].reason

    assert faults.mutating() == []
    assert LB_NAME not in cloud(aws)["load_balancers"]


def test_nodes_join_leave_and_are_excluded(
    provider: AwsProvider, world: World, aws: tuple[Any, Any], faults: FaultInjector
) -> None:
    lb = service_lb(world, ports=((80, "TCP", 30080), (53, "UDP", 30053)))
    provider.ensure(lb)
    joined = world.add_instance()[1]
    faults.reset()

    assert provider.update_backends([lb.with_backends(service_lb(world).backends)]) == {}
    assert sorted(faults.mutating()) == ["RegisterTargets", "RegisterTargets"]
    for tg in cloud(aws)["target_groups"].values():
        assert joined in [i for i, _ in tg["targets"]]

    # The node leaves again (deleted from the cluster): one deregister per group.
    remaining = [n for n in nodes_of(world) if not (n.provider_id or "").endswith(joined)]
    faults.reset()
    left = service_lb(world, ports=((80, "TCP", 30080), (53, "UDP", 30053)), nodes=remaining)
    assert provider.update_backends([left]) == {}
    assert faults.mutating() == ["DeregisterTargets", "DeregisterTargets"]
    for tg in cloud(aws)["target_groups"].values():
        assert joined not in [i for i, _ in tg["targets"]]
    world.instances = [i for i in world.instances if i[1] != joined]

    excluded = world.instances[0][1]
    faults.reset()
    provider.ensure(
        service_lb(
            world,
            ports=((80, "TCP", 30080), (53, "UDP", 30053)),
            nodes=nodes_of(world, excluded=[excluded]),
        )
    )
    assert sorted(faults.mutating()) == ["DeregisterTargets", "DeregisterTargets"]
    for tg in cloud(aws)["target_groups"].values():
        assert excluded not in [i for i, _ in tg["targets"]]

    node = nodes_of(world)[0]
    without_aws_id = [type(node)(name=node.name, internal_ip=node.internal_ip)]
    provider.update_backends(
        [service_lb(world, ports=((80, "TCP", 30080), (53, "UDP", 30053)), nodes=without_aws_id)]
    )
    for tg in cloud(aws)["target_groups"].values():
        assert tg["targets"] == []  # a node without an AWS providerID is skipped


def test_delete_leaves_nothing(
    provider: AwsProvider, world: World, aws: tuple[Any, Any], faults: FaultInjector
) -> None:
    provider.ensure(service_lb(world, ports=((80, "TCP", 30080), (53, "UDP", 30053))))
    built = cloud(aws)

    provider.delete(KEY, UID)
    provider.delete(KEY, UID)  # absent is success

    state = cloud(aws)
    assert ours(state) == NOTHING
    assert state["addresses"] == built["addresses"]
    # Only the cluster-level backend group and its node rules remain, unchanged.
    assert sorted(state["security_groups"]) == sorted(["nodes", BACKEND])
    assert state["security_groups"] == {
        k: v for k, v in built["security_groups"].items() if k in ("nodes", BACKEND)
    }
    assert provider.list_owned() == []
    faults.reset()
    provider.delete(KEY, UID)
    assert faults.mutating() == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"ports": ((80, "SCTP", 30080),)}, "spec.ports[0].protocol", id="sctp"),
        pytest.param(
            {"ports": ((53, "TCP", 30053), (53, "UDP", 30054))},
            "spec.ports[1].nodePort",
            id="tcp-udp-two-node-ports",
        ),
        pytest.param(
            {"ports": tuple((1000 + i, "TCP", 31000 + i) for i in range(51))},
            "spec.ports",
            id="too-many-ports",
        ),
        pytest.param({"ip_families": ("IPv6",)}, "spec.ipFamilies", id="ipv6"),
    ],
)
def test_invalid_services_touch_nothing(  # noqa: PLR0917 (pytest passes fixtures positionally)
    provider: AwsProvider,
    world: World,
    aws: tuple[Any, Any],
    faults: FaultInjector,
    overrides: dict[str, Any],
    field: str,
) -> None:
    before = cloud(aws)
    faults.reset()
    with pytest.raises(InvalidServiceError) as caught:
        provider.ensure(service_lb(world, **overrides))
    assert field in [p.field for p in caught.value.problems]
    assert faults.requests == []
    assert cloud(aws) == before


def test_the_provider_itself_refuses_sctp(
    provider: AwsProvider, world: World, aws: tuple[Any, Any], faults: FaultInjector
) -> None:
    """Whatever builds the LoadBalancer, the NLB provider refuses what an NLB cannot serve."""
    lb = replace(service_lb(world), ports=(FrontendPort(Protocol.SCTP, 80, 30080),))
    before = cloud(aws)
    faults.reset()
    with pytest.raises(InvalidServiceError) as caught:
        provider.ensure(lb)
    assert [p.field for p in caught.value.problems] == ["spec.ports[0].protocol"]
    assert "AWS Network Load Balancer" in str(caught.value)
    with pytest.raises(InvalidServiceError):
        provider.plan(lb)
    assert provider.update_backends([lb]).keys() == {lb.key}
    assert faults.requests == []
    assert cloud(aws) == before


def test_no_eligible_subnet_creates_nothing(
    make_provider: ProviderFactory, world: World, aws: tuple[Any, Any], faults: FaultInjector
) -> None:
    empty_vpc = aws[1].create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    provider = make_provider(vpc_id=empty_vpc)
    faults.reset()
    with pytest.raises(ProviderError, match="no subnet"):
        provider.ensure(service_lb(world))
    assert faults.mutating() == []


def test_foreign_load_balancer_with_our_name_is_left_alone(
    provider: AwsProvider, world: World, aws: tuple[Any, Any], faults: FaultInjector
) -> None:
    aws[0].create_load_balancer(Name=LB_NAME, Type="network", Subnets=list(world.subnets.values()))
    faults.reset()
    with pytest.raises(ProviderError, match="ownership tags"):
        provider.ensure(service_lb(world))
    assert faults.mutating() == []
    provider.delete(KEY, UID)
    assert LB_NAME in cloud(aws)["load_balancers"]


def test_plan_mutates_nothing(provider: AwsProvider, world: World, faults: FaultInjector) -> None:
    lb = service_lb(world, affinity=SessionAffinity.CLIENT_IP)
    changes = [str(c) for c in provider.plan(lb)]
    assert faults.mutating() == []
    assert changes[:3] == [
        f"create security-group {BACKEND}: in {world.vpc_id}",
        f"update node-security-group {world.node_sg}: allow tcp/10256, tcp/30000-32767,"
        f" udp/30000-32767 from ({BACKEND})",
        f"create security-group k8s-elb-{LB_NAME}: in {world.vpc_id}",
    ]
    assert f"create load-balancer {LB_NAME}" in "\n".join(changes)
    assert f"create target-group {TG80}: TCP node port 30080" in changes

    provider.ensure(lb)
    assert provider.plan(lb) == []
    assert [str(c) for c in provider.plan(service_lb(world))] == [
        f"update target-group {TG80}: no stickiness"
    ]
    deletes = [str(c) for c in provider.plan_delete(KEY, UID)]
    assert deletes == [
        f"delete load-balancer {LB_NAME}",
        f"delete target-group {TG80}",
        f"delete security-group k8s-elb-{LB_NAME}: " + provider.list_owned()[-1].name,
    ]
    assert len(faults.mutating()) == 9  # only the ensure's


def test_list_owned_finds_orphans_and_delete_owned_removes_them(
    make_provider: ProviderFactory, world: World, aws: tuple[Any, Any]
) -> None:
    provider = make_provider()
    provider.ensure(service_lb(world, ports=((80, "TCP", 30080), (53, "UDP", 30053))))

    gc = make_provider()  # a later `lbctl gc` process: the Service is gone
    owned = gc.list_owned()
    assert [r.kind for r in owned] == [
        "load-balancer",
        "target-group",
        "target-group",
        "security-group",
    ]
    assert {r.service for r in owned} == {KEY} and {r.uid for r in owned} == {UID}
    for resource in owned:
        gc.delete_owned(resource)

    assert gc.list_owned() == []
    assert ours(cloud(aws)) == NOTHING
    backend_admitted(cloud(aws))


def _throttle(times: int) -> Any:
    from botocore.exceptions import ClientError

    state = {"left": times}

    def handler(model: Any, **_: Any) -> None:
        if model.name == "DescribeLoadBalancers" and state["left"] > 0:
            state["left"] -= 1
            error = {
                "Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            raise ClientError(error, model.name)

    return handler


def _throttled_provider(
    moto: MotoServer, world: World, metrics: Metrics, times: int
) -> AwsProvider:
    elbv2, ec2 = moto.clients()
    elbv2.meta.events.register("before-call", _throttle(times))
    return AwsProvider(
        elbv2=elbv2,
        ec2=ec2,
        metrics=metrics,
        cluster_id=CLUSTER_ID,
        vpc_id=world.vpc_id,
        retry=FAST_RETRY,
        clock=FakeClock(),
    )


def test_throttling_is_retried_then_reported(world: World, moto: MotoServer) -> None:
    metrics = Metrics()
    provider = _throttled_provider(moto, world, metrics, 2)
    provider.ensure(service_lb(world))  # two throttled attempts, then success
    sample = metrics.registry.get_sample_value(
        "lbctl_provider_calls_total",
        {"provider": "aws", "method": "elbv2.DescribeLoadBalancers", "result": "Throttling"},
    )
    assert sample == 2

    provider = _throttled_provider(moto, world, Metrics(), FAST_RETRY.attempts)
    with pytest.raises(ThrottledError):
        provider.ensure(service_lb(world))


def test_update_backends_batches_per_group_and_reports_failures_per_service(
    provider: AwsProvider, world: World, aws: tuple[Any, Any], faults: FaultInjector
) -> None:
    uids = [str(uuid.uuid4()) for _ in range(6)]
    lbs = [service_lb(world, uid=u, name=f"s{i}") for i, u in enumerate(uids)]
    for lb in lbs:
        provider.ensure(lb)
    world.add_instance()
    faults.reset()
    faults.fail_at = 2  # one Service's register call fails

    failures = provider.update_backends(
        [lb.with_backends(service_lb(world).backends) for lb in lbs]
    )

    assert faults.mutating() == ["RegisterTargets"] * 6
    assert len(failures) == 1
    failed = next(iter(failures))
    assert failed in {lb.key for lb in lbs}
    faults.reset()
    assert (
        provider.update_backends([lb.with_backends(service_lb(world).backends) for lb in lbs]) == {}
    )
    assert faults.mutating() == ["RegisterTargets"]  # only the one that failed
    for tg in cloud(aws)["target_groups"].values():
        assert len(tg["targets"]) == 4


def test_drift_made_by_hand_is_corrected(
    make_provider: ProviderFactory, world: World, aws: tuple[Any, Any]
) -> None:
    clock = FakeClock()
    provider = make_provider(clock=clock)
    assert (MAX_AGE, VERIFY_PERIOD) == (30.0, 900.0)
    lb = service_lb(world)
    provider.ensure(lb)
    elbv2, ec2 = aws
    state = cloud(aws)
    sg = state["security_groups"][f"k8s-elb-{LB_NAME}"]["id"]
    tg = state["target_groups"][TG80]
    ec2.revoke_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    victim = tg["targets"][0]
    elbv2.deregister_targets(
        TargetGroupArn=tg["arn"], Targets=[{"Id": victim[0], "Port": victim[1]}]
    )

    clock.step(31)  # the next resync: bulk reads see security groups again
    provider.ensure(lb)
    state = cloud(aws)
    assert state["security_groups"][f"k8s-elb-{LB_NAME}"]["ingress"] == {("tcp", "80", "0.0.0.0/0")}
    assert victim not in state["target_groups"][TG80]["targets"]  # details: not yet

    clock.step(900)  # past the verify period: targets are read again
    provider.ensure(lb)
    assert victim in cloud(aws)["target_groups"][TG80]["targets"]


@pytest.mark.parametrize(
    ("operation", "mutating"),
    [
        ("DescribeTags", False),
        ("GetResources", False),
        ("CreateListener", True),
        ("RegisterTargets", True),
    ],
)
def test_the_fault_injector_counts_mutating_operations(operation: str, mutating: bool) -> None:
    assert is_mutating(operation) is mutating
