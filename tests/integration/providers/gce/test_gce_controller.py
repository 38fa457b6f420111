"""The real service controller (real apiserver) driving the gce provider on the GCE fake.

Nodes are plain Node objects whose spec.providerID names instances seeded in
the fake and whose InternalIPs lie in 198.18.0.0/24: they are data, nothing
routes to them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lbcommon.model import EXCLUDE_LABEL
from lbctl.providers.common.names import lb_name
from tests.fakes.gce import GCEFake
from tests.integration.controller.conftest import (
    ControllerHarness,
    lb_service,
    wait_event,
    wait_ingress,
)
from tests.integration.providers.gce.conftest import ProviderFactory
from tests.integration.providers.gce.helpers import PROJECT, REGION, TAG, lb_names
from tests.kubehelpers import NodeObjects, merge_patch_service, wait_for

pytestmark = pytest.mark.integration


class GceNodes(NodeObjects):
    """Instances in the fake plus Node objects naming them; Nodes deleted afterwards."""

    def __init__(self, api: client.ApiClient, fake: GCEFake) -> None:
        super().__init__(api, "gce")
        self.fake = fake

    def add_instance(self) -> str:
        index = len(self.names)
        name = f"{self.prefix}-{index}"
        zone = f"{REGION}-{'abc'[index % 3]}"
        address = f"198.18.0.{10 + index}"
        self.fake.seed_instance(name, zone=zone, ip=address, tags=[TAG])
        return self.add(
            str(index),
            address,
            labels={"topology.kubernetes.io/zone": zone},
            provider_id=f"gce://{PROJECT}/{zone}/{name}",
        )


@pytest.fixture
def gce_nodes(kube: client.ApiClient, fake: GCEFake) -> Iterator[GceNodes]:
    made = GceNodes(kube, fake)
    for _ in range(3):
        made.add_instance()
    try:
        yield made
    finally:
        made.cleanup()


def members(fake: GCEFake, pool: str) -> set[str]:
    found = fake.snapshot()["targetPools"].get(pool, {})
    return {url.rsplit("/", 1)[1] for url in found.get("instances", [])}


def test_controller_builds_updates_and_removes_the_load_balancer(
    *,
    kube: client.ApiClient,
    namespace: str,
    harness: ControllerHarness,
    make_provider: ProviderFactory,
    fake: GCEFake,
    gce_nodes: GceNodes,
) -> None:
    harness.start(provider=make_provider())
    core = client.CoreV1Api(kube)
    created = core.create_namespaced_service(namespace, lb_service("web", harness.lb_class))
    lb = lb_name(created.metadata.uid)

    ip = wait_ingress(kube, namespace, "web", timeout=30)
    assert fake.snapshot()["forwardingRules"][lb]["IPAddress"] == ip
    wait_event(kube, namespace, "web", reason="EnsuredLoadBalancer")
    assert fake.names() == lb_names(lb)
    assert members(fake, lb) == set(gce_nodes.names)

    # A node joins: one batched addInstance for the pool, nothing else mutates.
    fake.reset_calls()
    joined = gce_nodes.add_instance()
    wait_for("joined node in the pool", lambda: joined in members(fake, lb))
    assert fake.count("targetPools.addInstance") == 1
    assert fake.count(mutating=True) == 1

    # The exclusion label takes a node out.
    core.patch_node(gce_nodes.names[0], {"metadata": {"labels": {EXCLUDE_LABEL: ""}}})
    wait_for("excluded node removed", lambda: gce_nodes.names[0] not in members(fake, lb))

    # Source ranges: the firewall is updated in place.
    merge_patch_service(
        kube, namespace, "web", {"spec": {"loadBalancerSourceRanges": ["192.0.2.0/24"]}}
    )

    def ranges() -> list[str]:
        return list(fake.snapshot()["firewalls"][f"k8s-fw-{lb}"]["sourceRanges"])

    wait_for("source range applied", lambda: ranges() == ["192.0.2.0/24"])
    assert wait_ingress(kube, namespace, "web") == ip, "the IP never moves"

    # Type change: everything goes.
    merge_patch_service(
        kube,
        namespace,
        "web",
        {"spec": {"type": "NodePort", "loadBalancerClass": None, "loadBalancerSourceRanges": None}},
    )
    wait_for("nothing left after type change", lambda: fake.names() == {}, timeout=30)

    # Delete of a fresh one: nothing is left in the cloud, and gc finds nothing.
    core.create_namespaced_service(namespace, lb_service("again", harness.lb_class))
    wait_ingress(kube, namespace, "again", timeout=30)
    core.delete_namespaced_service("again", namespace)

    def deleted() -> bool:
        try:
            core.read_namespaced_service("again", namespace)
        except ApiException as err:
            return bool(err.status == 404)
        return False

    wait_for("Service deleted (finalizer removed)", deleted, timeout=30)
    assert fake.names() == {}
    assert make_provider().list_owned() == []


def test_invalid_service_gets_a_warning_and_no_resources(
    *,
    kube: client.ApiClient,
    namespace: str,
    harness: ControllerHarness,
    make_provider: ProviderFactory,
    fake: GCEFake,
    gce_nodes: GceNodes,
) -> None:
    harness.start(provider=make_provider())
    core = client.CoreV1Api(kube)
    tier = {"cloud.google.com/network-tier": "Gold"}
    core.create_namespaced_service(namespace, lb_service("bad", harness.lb_class, annotations=tier))
    mixed = lb_service("mixed", harness.lb_class, ports=((53, "TCP"), (53, "UDP")))
    core.create_namespaced_service(namespace, mixed)
    wait_event(kube, namespace, "bad", reason="InvalidLoadBalancerConfig", contains="network-tier")
    wait_event(kube, namespace, "mixed", reason="InvalidLoadBalancerConfig", contains="mixed")
    assert fake.count(mutating=True) == 0 and fake.names() == {}

    # Upstream's status condition for mixed protocols, cleared once fixed.
    def ports_error() -> bool:
        svc = core.read_namespaced_service("mixed", namespace)
        return any(
            c.type == "LoadBalancerPortsError" and c.status == "True"
            for c in svc.status.conditions or []
        )

    wait_for("LoadBalancerPortsError condition", ports_error)
    core.patch_namespaced_service(
        "mixed",
        namespace,
        [
            {
                "op": "replace",
                "path": "/spec/ports",
                "value": [{"name": "p0", "port": 53, "protocol": "UDP", "targetPort": 8080}],
            }
        ],
    )
    wait_ingress(kube, namespace, "mixed", timeout=30)
    wait_for("condition cleared", lambda: not ports_error())
