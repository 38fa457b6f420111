"""Crash safety: every mutating call of a create and of a delete, failed or killed.

For each index N in the exact sequence of mutating calls, one run makes call
N fail (a 400 from "AWS"), another lets it succeed and then kills the
reconcile (a BaseException, as if the process died), in the same provider
and in a fresh one (a restarted process, empty memory). The next reconcile
must converge to exactly the expected resources: no duplicate, no leak, and
after a delete `list_owned` finds nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbcommon.errors import LbctlError
from lbcommon.model import LoadBalancer, ServiceKey, SessionAffinity
from tests.fakes.aws import FaultInjector, Killed, World
from tests.integration.providers.aws.conftest import ProviderFactory
from tests.integration.providers.aws.helpers import (
    LB_NAME,
    UID,
    backend_admitted,
    cloud,
    groups_of,
    ours,
    service_lb,
)

pytestmark = pytest.mark.integration

KEY = ServiceKey("default/web")
CREATE = [
    "CreateSecurityGroup",  # the cluster's backend group, on the first create
    "AuthorizeSecurityGroupIngress",  # node groups admit it
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "CreateLoadBalancer",
    "ModifyLoadBalancerAttributes",
    "CreateTargetGroup",
    "ModifyTargetGroupAttributes",
    "RegisterTargets",
    "CreateTargetGroup",
    "ModifyTargetGroupAttributes",
    "RegisterTargets",
    "CreateListener",
    "CreateListener",
]
DELETE = [
    "DeleteLoadBalancer",
    "DeleteTargetGroup",
    "DeleteTargetGroup",
    "DeleteSecurityGroup",
]
MODES = ["fail", "kill", "kill-restart"]


def crash_lb(world: World, ip: str) -> LoadBalancer:
    """A Service that needs every kind of step: two ports, affinity, an EIP."""
    return service_lb(
        world,
        ports=((80, "TCP", 30080), (53, "UDP", 30053)),
        affinity=SessionAffinity.CLIENT_IP,
        ip=ip,
    )


def assert_built(aws: tuple[Any, Any], world: World, allocation: str) -> None:
    state = cloud(aws)
    assert ours(state) == {
        "load_balancers": 1,
        "target_groups": 2,
        "security_groups": 1,
        "listeners": 2,
    }
    lb = state["load_balancers"][LB_NAME]
    assert lb["tags"]["lbctl.io/eip-allocation"] == allocation
    assert lb["cross_zone"] == "true"
    sg = state["security_groups"][f"k8s-elb-{LB_NAME}"]
    assert lb["security_groups"] == groups_of(state, LB_NAME)
    assert sg["ingress"] == {("tcp", "80", "0.0.0.0/0"), ("udp", "53", "0.0.0.0/0")}
    tgs = state["target_groups"]
    assert lb["listeners"] == {
        (80, "TCP"): tgs["a0b1c2d3e4f5061728394-t80"]["arn"],
        (53, "UDP"): tgs["a0b1c2d3e4f5061728394-u53"]["arn"],
    }
    for name, port in (("t80", 30080), ("u53", 30053)):
        tg = tgs[f"a0b1c2d3e4f5061728394-{name}"]
        assert tg["sticky"]
        assert tg["targets"] == sorted((i, port) for _, i in world.instances)
    backend_admitted(state)


def assert_gone(aws: tuple[Any, Any], ip: str, allocation: str) -> None:
    state = cloud(aws)
    assert ours(state) == {
        "load_balancers": 0,
        "target_groups": 0,
        "security_groups": 0,
        "listeners": 0,
    }
    backend_admitted(state)  # cluster-level: kept
    assert state["addresses"] == {ip: allocation}


def _interrupt(faults: FaultInjector, mode: str, index: int, step: Any) -> None:
    if mode == "fail":
        faults.fail_at = index
        with pytest.raises(LbctlError):
            step()
    else:
        faults.kill_after = index
        with pytest.raises(Killed):
            step()
    faults.fail_at = faults.kill_after = None


def test_the_sequences_are_what_the_crash_tests_cover(
    make_provider: ProviderFactory, world: World, faults: FaultInjector
) -> None:
    ip, _ = world.allocate_eip()
    provider = make_provider()
    faults.reset()
    provider.ensure(crash_lb(world, ip))
    assert faults.mutating() == CREATE
    faults.reset()
    provider.delete(KEY, UID)
    assert faults.mutating() == DELETE


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "index", range(len(CREATE)), ids=[f"{i}-{c}" for i, c in enumerate(CREATE)]
)
def test_create_converges_after_a_crash(  # noqa: PLR0917 (pytest passes fixtures positionally)
    make_provider: ProviderFactory,
    world: World,
    aws: tuple[Any, Any],
    faults: FaultInjector,
    index: int,
    mode: str,
) -> None:
    ip, allocation = world.allocate_eip()
    lb = crash_lb(world, ip)
    provider = make_provider()
    faults.reset()

    _interrupt(faults, mode, index, lambda: provider.ensure(lb))
    assert faults.mutating()[: index + 1] == CREATE[: index + 1]
    if mode == "kill-restart":
        provider = make_provider()
    provider.ensure(lb)

    assert_built(aws, world, allocation)
    provider.delete(KEY, UID)
    assert_gone(aws, ip, allocation)
    assert make_provider().list_owned() == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "index", range(len(DELETE)), ids=[f"{i}-{c}" for i, c in enumerate(DELETE)]
)
def test_delete_converges_after_a_crash(  # noqa: PLR0917 (pytest passes fixtures positionally)
    make_provider: ProviderFactory,
    world: World,
    aws: tuple[Any, Any],
    faults: FaultInjector,
    index: int,
    mode: str,
) -> None:
    ip, allocation = world.allocate_eip()
    provider = make_provider()
    provider.ensure(crash_lb(world, ip))
    faults.reset()

    _interrupt(faults, mode, index, lambda: provider.delete(KEY, UID))
    if mode == "kill-restart":
        provider = make_provider()
    provider.delete(KEY, UID)

    assert_gone(aws, ip, allocation)
    assert provider.list_owned() == []
    assert make_provider().list_owned() == []
