"""reconcile(key) against recording fakes: outcomes per error, give-up, waiting for capacity."""

from __future__ import annotations

import pytest

from lbcommon.errors import (
    ConflictError,
    ForbiddenError,
    InvalidServiceError,
    LbctlError,
    PermanentError,
    Problem,
    ProviderError,
    ServiceGoneError,
    TemporaryError,
    ThrottledError,
)
from lbcommon.model import Ingress, LoadBalancer
from lbctl.controller.reconcile import Outcome
from lbctl.providers.base import CapacityError
from tests.unit.controller.fakes import World, spec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "outcome", "after"),
    [
        pytest.param(ProviderError("quota"), Outcome.GIVE_UP, None, id="provider-error-gives-up"),
        pytest.param(PermanentError("422"), Outcome.GIVE_UP, None, id="permanent-gives-up"),
        pytest.param(ForbiddenError("patch x"), Outcome.GIVE_UP, None, id="forbidden-gives-up"),
        pytest.param(TemporaryError("503"), Outcome.RETRY, None, id="temporary-retries"),
        pytest.param(ConflictError("409"), Outcome.RETRY, None, id="conflict-retries"),
        pytest.param(
            ThrottledError("429", retry_after=7.0), Outcome.RETRY_AFTER, 7.0, id="throttled-waits"
        ),
        pytest.param(
            InvalidServiceError([Problem("spec.ports[0].protocol", "SCTP")]),
            Outcome.RETRY,
            None,
            id="invalid-retries-slowly",
        ),
        pytest.param(ServiceGoneError("404"), Outcome.DONE, None, id="gone-is-done"),
    ],
)
def test_provider_error_outcomes(error: LbctlError, outcome: Outcome, after: float | None) -> None:
    world = World()
    key = world.add(spec("web"))
    world.provider.fail[key] = error
    result = world.reconciler().reconcile(key)
    assert (result.outcome, result.after) == (outcome, after)
    warned = [e for e in world.cluster.events if e[0] == "Warning"]
    assert bool(warned) == (outcome is not Outcome.DONE)


def test_forbidden_status_write_gives_up_with_a_warning() -> None:
    world = World()
    key = world.add(spec("web", claimed=False))
    world.cluster.fail = ForbiddenError("patch services forbidden (ns/web): no")
    result = world.reconciler().reconcile(key)
    assert result.outcome is Outcome.GIVE_UP
    assert ("Warning", "SyncLoadBalancerFailed") in [e[:2] for e in world.cluster.events]
    assert world.provider.ensured == []  # the claim comes first


def test_success_is_done_and_publishes() -> None:
    world = World()
    key = world.add(spec("web"))
    assert world.reconciler().reconcile(key).outcome is Outcome.DONE
    assert ("patch_ingress", key) in world.cluster.writes


def test_a_delete_requeues_the_services_waiting_for_capacity_in_order() -> None:
    world = World()
    reconciler = world.reconciler()
    first, second = world.add(spec("first")), world.add(spec("second"))
    holder = world.add(spec("holder"))
    assert reconciler.reconcile(holder).outcome is Outcome.DONE
    for key in (first, second):
        world.provider.fail[key] = CapacityError([Problem("status", "all addresses in use")])
        assert reconciler.reconcile(key).outcome is Outcome.RETRY
    assert world.requeued == []
    world.services[holder] = spec("holder", deleting=True)
    assert reconciler.reconcile(holder).outcome is Outcome.DONE
    assert world.provider.deleted == [holder]
    assert world.requeued == [first, second]
    # Handed back once: a second delete finds nobody waiting.
    world.services.pop(holder)
    reconciler.reconcile(holder)
    assert world.requeued == [first, second]


def test_capacity_freed_during_a_failed_ensure_retries_at_once() -> None:
    """A delete that lands between the failed ensure and the bookkeeping is not lost."""
    world = World()
    reconciler = world.reconciler()
    holder, waiter = world.add(spec("holder")), world.add(spec("waiter"))
    reconciler.reconcile(holder)
    world.services[holder] = spec("holder", deleting=True)

    def ensure_then_delete(lb: LoadBalancer) -> tuple[Ingress, ...]:
        reconciler.reconcile(holder)  # another worker's delete completes here
        raise CapacityError([Problem("status", "all addresses in use")])

    world.provider.ensure = ensure_then_delete  # type: ignore[method-assign]
    assert reconciler.reconcile(waiter).outcome is Outcome.RETRY
    assert world.requeued == [waiter]


def test_duration_is_measured_on_the_injected_clock() -> None:
    world = World()
    key = world.add(spec("web"))

    def slow_ensure(lb: LoadBalancer) -> tuple[Ingress, ...]:
        world.clock.step(3.0)
        return (Ingress(ip="198.18.0.200"),)

    world.provider.ensure = slow_ensure  # type: ignore[method-assign]
    world.reconciler().reconcile(key)
    total = world.metrics.registry.get_sample_value("lbctl_reconcile_duration_seconds_sum")
    assert total == 3.0
