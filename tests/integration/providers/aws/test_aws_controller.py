"""The real service controller (real apiserver) driving the aws provider on moto.

Nodes are plain Node objects whose spec.providerID names moto instances and
whose InternalIPs lie in 198.18.0.0/24: they are data, nothing routes to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kubernetes import client
from kubernetes.client.rest import ApiException

from lbcommon.model import EXCLUDE_LABEL
from tests.fakes.aws import World, provider_id
from tests.integration.controller.conftest import ControllerHarness, lb_service, wait_event
from tests.integration.providers.aws.conftest import ProviderFactory
from tests.integration.providers.aws.helpers import backend_admitted, cloud, ours
from tests.kubehelpers import NodeObjects, merge_patch_service, wait_for

pytestmark = pytest.mark.integration

NOTHING = {"load_balancers": 0, "target_groups": 0, "security_groups": 0, "listeners": 0}


class AwsNodes(NodeObjects):
    """Node objects for moto instances; deleted afterwards."""

    def __init__(self, api: client.ApiClient, world: World) -> None:
        super().__init__(api, "aws")
        self.world = world

    def add_instance(self, zone: str, instance: str) -> str:
        return self.add(
            str(len(self.names)),
            f"198.18.0.{10 + len(self.names)}",
            labels={"topology.kubernetes.io/zone": zone},
            provider_id=provider_id(zone, instance),
        )


@pytest.fixture
def aws_nodes(kube: client.ApiClient, world: World) -> Iterator[AwsNodes]:
    made = AwsNodes(kube, world)
    for zone, instance in world.instances:
        made.add_instance(zone, instance)
    try:
        yield made
    finally:
        made.cleanup()


def hostname(api: client.ApiClient, namespace: str, name: str) -> str | None:
    svc = client.CoreV1Api(api).read_namespaced_service(name, namespace)
    ingress = (svc.status.load_balancer and svc.status.load_balancer.ingress) or []
    return ingress[0].hostname if ingress else None


def settled(aws: tuple[Any, Any]) -> dict[str, int] | None:
    """`ours(cloud(aws))`, or None while the controller deletes under our feet."""
    try:
        return ours(cloud(aws))
    except ClientError:
        return None


def targets(aws: tuple[Any, Any]) -> set[str]:
    groups = cloud(aws)["target_groups"].values()
    return {instance for tg in groups for instance, _ in tg["targets"]}


def test_controller_builds_updates_and_removes_the_nlb(  # noqa: PLR0917 (pytest passes fixtures positionally)
    kube: client.ApiClient,
    namespace: str,
    harness: ControllerHarness,
    make_provider: ProviderFactory,
    world: World,
    aws: tuple[Any, Any],
    aws_nodes: AwsNodes,
) -> None:
    harness.start(provider=make_provider())
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("web", harness.lb_class))

    name = wait_for("hostname", lambda: hostname(kube, namespace, "web"), timeout=30)
    state = cloud(aws)
    assert [lb["dns"] for lb in state["load_balancers"].values()] == [name]
    assert ours(state) | {"listeners": 1} == {
        "load_balancers": 1,
        "target_groups": 1,
        "security_groups": 1,
        "listeners": 1,
    }
    everyone = {instance for _, instance in world.instances}
    assert targets(aws) == everyone
    wait_event(kube, namespace, "web", reason="EnsuredLoadBalancer")

    # A node joins, then one is excluded: the target group follows.
    joined = world.add_instance()
    aws_nodes.add_instance(*joined)
    wait_for("joined node registered", lambda: targets(aws) == everyone | {joined[1]})
    core.patch_node(aws_nodes.names[0], {"metadata": {"labels": {EXCLUDE_LABEL: ""}}})
    first = world.instances[0][1]
    wait_for("excluded node deregistered", lambda: first not in targets(aws))

    # Source ranges are enforced by the NLB's security group.
    merge_patch_service(
        kube, namespace, "web", {"spec": {"loadBalancerSourceRanges": ["192.0.2.0/24"]}}
    )

    def ranges() -> set[tuple[str, str, str]]:
        groups = cloud(aws)["security_groups"]
        return next(g["ingress"] for n, g in groups.items() if n.startswith("k8s-elb-a"))

    wait_for("source range applied", lambda: ranges() == {("tcp", "80", "192.0.2.0/24")})

    # Type change: everything goes, the Service keeps its node port.
    merge_patch_service(
        kube,
        namespace,
        "web",
        {"spec": {"type": "NodePort", "loadBalancerClass": None, "loadBalancerSourceRanges": None}},
    )
    wait_for("nothing left after type change", lambda: settled(aws) == NOTHING)
    wait_for("ingress cleared", lambda: hostname(kube, namespace, "web") is None)

    # And a delete of a fresh one leaves nothing either.
    core.create_namespaced_service(namespace, lb_service("again", harness.lb_class))
    wait_for("hostname", lambda: hostname(kube, namespace, "again"), timeout=30)
    core.delete_namespaced_service("again", namespace)

    def deleted() -> bool:
        try:
            core.read_namespaced_service("again", namespace)
        except ApiException as err:
            return bool(err.status == 404)
        return False

    wait_for("Service deleted (finalizer removed)", deleted)
    assert ours(cloud(aws)) == NOTHING
    backend_admitted(cloud(aws))  # cluster-level: kept
    assert make_provider().list_owned() == []
