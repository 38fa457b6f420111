"""The gce provider under API faults: throttling, 5xx, failed and slow operations, 412.

Each case converges (or fails with the right lbctl error) and leaves no
duplicate: the fake refuses a second resource of a name, so a leak would
show up in `fake.names()`.
"""

from __future__ import annotations

import pytest

from lbcommon.errors import ProviderError, TemporaryError, ThrottledError
from lbctl.metrics import Metrics
from lbctl.providers.gce import GceProvider
from lbctl.providers.gce.errors import QuotaError
from tests.fakes.gce import GCEFake
from tests.integration.providers.gce.conftest import ProviderFactory
from tests.integration.providers.gce.helpers import LB, Node, lb_names, service_lb

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("status", [429, 403, 500, 503])
def test_throttling_and_5xx_are_retried(
    fake: GCEFake, provider: GceProvider, nodes: list[Node], status: int
) -> None:
    if status == 403:
        fake.faults.throttle(2, status=403)
    else:
        fake.faults.fail("*", status=status, times=2)
    provider.ensure(service_lb(nodes))
    assert fake.names() == lb_names()


def test_a_lost_mutation_response_is_not_applied_twice(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    """A 503 on a mutation is retried with the same requestId."""
    fake.faults.fail("targetPools.insert", status=503)
    provider.ensure(service_lb(nodes))
    inserts = [c for c in fake.calls if c.method == "targetPools.insert"]
    assert len(inserts) == 2
    assert inserts[0].query["requestId"] == inserts[1].query["requestId"]
    assert fake.names() == lb_names()


def test_exhausted_retries_become_lbctl_errors(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    fake.faults.throttle(100)
    with pytest.raises(ThrottledError):
        provider.ensure(service_lb(nodes))
    fake.faults.clear()
    fake.faults.fail("*", status=503, times=100)
    with pytest.raises(TemporaryError):
        provider.ensure(service_lb(nodes))
    fake.faults.clear()
    provider.ensure(service_lb(nodes))
    assert fake.names() == lb_names()


def test_slow_operations_are_waited_on_with_our_own_operations_clients(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    fake.set_operation_polls(3)
    provider.ensure(service_lb(nodes))
    assert fake.pending_operations() == []
    assert fake.count("regionOperations.wait") > 0 and fake.count("globalOperations.wait") > 0
    assert fake.names() == lb_names()


def test_a_failed_operation_is_an_error_and_the_next_ensure_converges(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    fake.faults.fail_operation("forwardingRules.insert", code="QUOTA_EXCEEDED")
    with pytest.raises(QuotaError):
        provider.ensure(service_lb(nodes))
    assert "forwardingRules" not in fake.names()
    provider.ensure(service_lb(nodes))
    assert fake.names() == lb_names()


def test_quota_exceeded_is_a_provider_error(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    fake.set_quota("TARGET_POOLS", 0)
    with pytest.raises(ProviderError):
        provider.ensure(service_lb(nodes))
    fake.set_quota("TARGET_POOLS", None)
    provider.ensure(service_lb(nodes))
    assert fake.names() == lb_names()


def test_precondition_failed_is_re_read_and_retried(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    provider.ensure(service_lb(nodes))
    fake.faults.fail("firewalls.update", status=412)
    provider.ensure(service_lb(nodes, ranges=["10.0.0.0/8"]))
    assert fake.count("firewalls.update") == 2
    assert fake.snapshot()["firewalls"][f"k8s-fw-{LB}"]["sourceRanges"] == ["10.0.0.0/8"]


def test_every_call_is_counted(
    fake: GCEFake, make_provider: ProviderFactory, nodes: list[Node]
) -> None:
    metrics = Metrics()
    provider = make_provider(metrics=metrics)
    fake.faults.fail("targetPools.insert", status=503)
    provider.ensure(service_lb(nodes))
    counted = sum(
        sample.value
        for family in metrics.registry.collect()
        if family.name == "lbctl_provider_calls"
        for sample in family.samples
        if sample.name.endswith("_total")
    )
    assert counted == len(fake.calls)
    failed = metrics.provider_calls.labels(
        provider="gce", method="targetPools.insert", result="503"
    )
    assert failed._value.get() == 1
