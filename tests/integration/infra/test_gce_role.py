"""terraform/gke's custom role for lbctl holds exactly what the gce provider calls.

The provider runs what the controller does in a cluster (`restore` at
start, every kind of `ensure`, node changes through `update_backends`, then
`delete`) against the GCE fake; the fake's call log names each REST call,
`gce_permissions.PERMISSIONS` turns the calls into IAM permissions, and the
set must equal the role's `permissions` in terraform/gke/iam.tf. A call the
table does not know fails too, so a new call cannot slip past it.
"""

from __future__ import annotations

import pytest
from google.cloud import compute_v1

from lbcommon.model import SessionAffinity, TrafficPolicy
from tests.fakes.gce import GCEFake
from tests.integration.infra.gce_permissions import (
    PERMISSIONS,
    UnmappedCallError,
    diff_message,
    required_permissions,
)
from tests.integration.providers.gce.conftest import ProviderFactory
from tests.integration.providers.gce.helpers import (
    PROJECT,
    REGION,
    UID,
    Node,
    seed_nodes,
    service_lb,
)
from tests.unit.infra.terraform import TERRAFORM, Module

pytestmark = pytest.mark.integration

UID2 = "11111111-2222-3333-4444-555555555555"
ROLE = ("google_project_iam_custom_role", "lbctl")


def _reserve(fake: GCEFake, name: str) -> str:
    """A user's reserved address (what terraform/gke's static address is)."""
    client = fake.client(compute_v1.AddressesClient)
    body = compute_v1.Address(name=name, network_tier="PREMIUM", description="reserved by a human")
    client.insert(project=PROJECT, region=REGION, address_resource=body).result()  # type: ignore[no-untyped-call]
    return client.get(project=PROJECT, region=REGION, address=name).address


def _controller_cycle(fake: GCEFake, make_provider: ProviderFactory, nodes: list[Node]) -> None:
    """Everything the controller asks of the provider, each kind of change once."""
    static_ip = _reserve(fake, "static")
    joiners = seed_nodes(fake, 2, start=len(nodes))
    # As on GCE, an operation is not done when its call returns: the
    # provider waits on it (regionOperations.wait, globalOperations.wait).
    fake.set_operation_polls(1)
    fake.reset_calls()  # from here on, only the provider's calls

    provider = make_provider()
    provider.restore({})
    provider.ensure(service_lb(nodes))  # create: address, firewalls, check, pool, rule
    provider.ensure(service_lb(nodes, uid=UID2, name="other"))  # a second Service
    provider.ensure(service_lb(nodes, ports=((80, "TCP", 30080), (81, "TCP", 30081))))
    provider.ensure(service_lb(nodes, ports=((8080, "TCP", 30080),)))  # new port range
    provider.ensure(service_lb(nodes, ports=((8080, "TCP", 30080),), ranges=["192.0.2.0/24"]))
    provider.ensure(service_lb(nodes, affinity=SessionAffinity.CLIENT_IP))  # pool swap
    provider.ensure(service_lb(nodes, policy=TrafficPolicy.LOCAL))  # own health check
    provider.ensure(service_lb(nodes, policy=TrafficPolicy.LOCAL, health_port=32001))
    provider.ensure(service_lb(nodes))  # back to the shared check
    provider.ensure(service_lb(nodes, ip=static_ip))  # the user's reserved address
    provider.ensure(service_lb(nodes, annotations={"cloud.google.com/network-tier": "Standard"}))
    joined = [*nodes, *joiners]
    lbs = [service_lb(joined), service_lb(joined, uid=UID2, name="other")]
    assert provider.update_backends(lbs) == {}
    assert provider.update_backends([service_lb(nodes), service_lb(nodes, uid=UID2)]) == {}
    provider.delete(service_lb(nodes).key, UID)
    provider.delete(service_lb(nodes, uid=UID2, name="other").key, UID2)

    # A fresh process finds nothing of ours left, and starts from nothing.
    restarted = make_provider()
    restarted.restore({})
    assert restarted.list_owned() == []


def test_custom_role_is_exactly_what_the_provider_calls(
    fake: GCEFake, make_provider: ProviderFactory, nodes: list[Node]
) -> None:
    _controller_cycle(fake, make_provider, nodes)
    calls = fake.calls
    assert calls, "the cycle made no call"
    unknown = sorted({f"{c.verb} {c.path}" for c in calls if c.method == "unknown"})
    assert not unknown, f"calls the fake could not name: {unknown}"
    # A read may find nothing (404: "not there yet"); anything else must succeed.
    failed = sorted(
        {
            f"{c.method} -> {c.status}"
            for c in calls
            if c.status >= 400 and (c.mutating or c.status != 404)
        }
    )
    assert not failed, f"calls that failed during the cycle: {failed}"
    methods = {c.method for c in calls}
    # The cycle exercises every mutation the provider has (or this test is too weak).
    for needed in (
        "addresses.insert",
        "addresses.delete",
        "firewalls.insert",
        "firewalls.update",
        "firewalls.delete",
        "httpHealthChecks.insert",
        "httpHealthChecks.update",
        "httpHealthChecks.delete",
        "targetPools.insert",
        "targetPools.delete",
        "targetPools.addInstance",
        "targetPools.removeInstance",
        "targetPools.addHealthCheck",
        "targetPools.removeHealthCheck",
        "forwardingRules.insert",
        "forwardingRules.setTarget",
        "forwardingRules.delete",
        "regionOperations.wait",
        "globalOperations.wait",
    ):
        assert needed in methods, f"the cycle never called {needed}: {sorted(methods)}"

    required = required_permissions(methods)
    role = Module.load(TERRAFORM / "gke").resource(*ROLE)
    granted = set(role["permissions"])
    assert len(granted) == len(role["permissions"]), "the role lists a permission twice"
    assert granted == required, diff_message(
        required=required, granted=granted, where="terraform/gke/iam.tf"
    )


def test_an_unmapped_call_is_named() -> None:
    with pytest.raises(UnmappedCallError, match=r"\['targetPools.setBackup'\]"):
        required_permissions(["targetPools.get", "targetPools.setBackup"])


def test_the_diff_names_missing_and_extra_permissions() -> None:
    message = diff_message(required={"a", "b"}, granted={"b", "c"}, where="x.tf")
    lines = message.splitlines()
    assert "    + a" in lines and "    - c" in lines
    assert not {"    + b", "    - b"} & set(lines)


def test_every_permission_in_the_table_is_a_compute_permission() -> None:
    for method, permissions in PERMISSIONS.items():
        assert permissions, method
        for permission in permissions:
            service, collection, verb = permission.split(".")
            assert service == "compute" and collection and verb, (method, permission)
