"""Node changes re-point every load balancer in one batched provider call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from lbcommon.model import EXCLUDE_LABEL, TO_BE_DELETED_TAINT, LoadBalancer
from tests.integration.controller.conftest import (
    ControllerHarness,
    RecordingProvider,
    lb_service,
    wait_event,
    wait_ingress,
)
from tests.kubehelpers import NodeObjects, wait_for

pytestmark = pytest.mark.integration


class Nodes(NodeObjects):
    def __init__(self, api: client.ApiClient) -> None:
        super().__init__(api, "n")


@pytest.fixture
def nodes(kube: client.ApiClient) -> Iterator[Nodes]:
    made = Nodes(kube)
    try:
        yield made
    finally:
        made.cleanup()


def _backends(lb: LoadBalancer, prefix: str) -> set[str]:
    return {b.name for b in lb.backends if b.name.startswith(prefix)}


def _last_backends(provider: RecordingProvider, key: str, prefix: str) -> set[str] | None:
    calls = provider.calls_of("update_backends")
    for batch in reversed(calls):
        for lb in batch:
            if lb.key == key:
                return _backends(lb, prefix)
    return None


def test_node_changes_update_all_load_balancers_in_one_batch(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness, nodes: Nodes
) -> None:
    a = nodes.add("a", "198.18.0.10")
    controller = harness.start()
    provider = controller.provider
    assert isinstance(provider, RecordingProvider)
    core = client.CoreV1Api(kube)
    names = [f"svc{i}" for i in range(5)]
    for name in names:
        core.create_namespaced_service(namespace, lb_service(name, harness.lb_class))
    for name in names:
        wait_ingress(kube, namespace, name)
    first = {lb.key: lb for lb in provider.calls_of("ensure")}
    assert all(a in _backends(lb, nodes.prefix) for lb in first.values())

    before = len(provider.calls_of("update_backends"))
    b = nodes.add("b", "198.18.0.11")
    keys = {f"{namespace}/{name}" for name in names}

    def all_updated_in_one_call() -> bool:
        for batch in provider.calls_of("update_backends")[before:]:
            if keys <= {lb.key for lb in batch} and all(
                _backends(lb, nodes.prefix) == {a, b} for lb in batch if lb.key in keys
            ):
                return True
        return False

    wait_for("one batch with both nodes for every Service", all_updated_in_one_call)
    wait_event(kube, namespace, names[0], reason="UpdatedLoadBalancer")


@pytest.mark.parametrize(
    "change",
    ["exclusion-label", "autoscaler-taint", "no-internal-ip", "deleted"],
)
def test_ineligible_nodes_leave_the_backends(
    kube: client.ApiClient,
    namespace: str,
    harness: ControllerHarness,
    nodes: Nodes,
    change: str,
) -> None:
    a = nodes.add("a", "198.18.0.10")
    b = nodes.add("b", "198.18.0.11")
    controller = harness.start()
    provider = controller.provider
    assert isinstance(provider, RecordingProvider)
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("web", harness.lb_class))
    wait_ingress(kube, namespace, "web")
    key = f"{namespace}/web"
    if change == "exclusion-label":
        core.patch_node(b, {"metadata": {"labels": {EXCLUDE_LABEL: ""}}})
    elif change == "autoscaler-taint":
        core.patch_node(
            b, {"spec": {"taints": [{"key": TO_BE_DELETED_TAINT, "effect": "NoSchedule"}]}}
        )
    elif change == "no-internal-ip":
        # A merge patch replaces the list (a strategic one would merge by type).
        core.patch_node_status(
            b,
            {"status": {"addresses": [{"type": "Hostname", "address": b}]}},
            _content_type="application/merge-patch+json",
        )
    else:
        core.delete_node(b)
    wait_for(
        f"{b} removed from {key}",
        lambda: _last_backends(provider, key, nodes.prefix) == {a},
    )


def test_readiness_alone_does_not_churn_backends(
    kube: client.ApiClient, namespace: str, harness: ControllerHarness, nodes: Nodes
) -> None:
    """KEP-3458: a NotReady node stays a backend; health checks decide.

    Node events are handled in order, so the sync that adds node b has seen a
    go NotReady before: it must still list a, and no sync in between may
    have dropped it.
    """
    a = nodes.add("a", "198.18.0.10")
    controller = harness.start()
    provider = controller.provider
    assert isinstance(provider, RecordingProvider)
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(namespace, lb_service("web", harness.lb_class))
    wait_ingress(kube, namespace, "web")
    key = f"{namespace}/web"
    before = len(provider.calls_of("update_backends"))
    core.patch_node_status(
        a,
        {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "Test",
                        "lastHeartbeatTime": None,
                    }
                ]
            }
        },
    )
    b = nodes.add("b", "198.18.0.11")
    wait_for(
        f"{b} added to {key}", lambda: b in (_last_backends(provider, key, nodes.prefix) or ())
    )
    after = [
        _backends(lb, nodes.prefix)
        for batch in provider.calls_of("update_backends")[before:]
        for lb in batch
        if lb.key == key
    ]
    assert after
    assert after[-1] == {a, b}
    assert all(a in backends for backends in after)
