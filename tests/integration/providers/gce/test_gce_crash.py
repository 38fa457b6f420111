"""Crash safety: every mutating call of a create, an update and a delete, failed or
"killed" right after it succeeded, and then the next reconcile converges.

The mutating calls are enumerated from a clean run of each scenario (at
collection time, against a throw-away fake), so a new call in the provider is
covered without editing this file. For call k:
- `fail`: the fake answers call k with a 400 (`http`), or accepts it and ends
  its operation in QUOTA_EXCEEDED without applying it (`operation`); the
  reconcile fails;
- `kill`: call k succeeds, then the reconcile dies (a BaseException, as a
  process kill would stop it: no except clause runs).
Then the same provider, and a fresh one (a restarted controller), converge:
exactly the expected resources, no duplicate, nothing leaked, and after the
final delete `list_owned` (what `lbctl gc` sees) is empty.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from lbcommon.clock import FakeClock
from lbcommon.errors import LbctlError
from lbcommon.model import SessionAffinity, TrafficPolicy
from lbctl.metrics import Metrics
from lbctl.providers.gce import GceProvider, connect
from lbctl.providers.gce.clients import Clients
from tests.fakes.gce import GCEFake
from tests.integration.providers.gce.conftest import FAST_RETRY, TIMEOUTS, ProviderFactory
from tests.integration.providers.gce.helpers import (
    LB,
    PROJECT,
    REGION,
    SCOPE,
    SHARED_FW,
    SHARED_HC,
    UID,
    Node,
    lb_names,
    seed_nodes,
    service_lb,
)

pytestmark = pytest.mark.integration

Action = Callable[[GceProvider, list[Node]], None]


def _ensure(**options: Any) -> Action:
    def action(provider: GceProvider, nodes: list[Node]) -> None:
        provider.ensure(service_lb(nodes, **options))

    return action


def _delete(provider: GceProvider, nodes: list[Node]) -> None:
    provider.delete(service_lb(nodes).key, UID)


def _nothing(provider: GceProvider, nodes: list[Node]) -> None:
    return None


LOCAL = {"policy": TrafficPolicy.LOCAL, "affinity": SessionAffinity.CLIENT_IP}
LOCAL_NAMES = {
    "addresses": [LB],
    "firewalls": sorted([f"k8s-fw-{LB}", f"k8s-{LB}-http-hc"]),
    "forwardingRules": [LB],
    "httpHealthChecks": [LB],
    "targetPools": [LB],
}


@dataclass(frozen=True)
class Scenario:
    name: str
    setup: Action
    action: Action
    expected: dict[str, list[str]]


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("create", _nothing, _ensure(), lb_names()),
        Scenario("create-local", _nothing, _ensure(**LOCAL), LOCAL_NAMES),
        Scenario(
            "affinity",
            _ensure(),
            _ensure(affinity=SessionAffinity.CLIENT_IP),
            {**lb_names(), "targetPools": [f"{LB}-alt"]},
        ),
        Scenario(
            "policy",
            _ensure(),
            _ensure(policy=TrafficPolicy.LOCAL),
            {**LOCAL_NAMES, "targetPools": [LB]},
        ),
        Scenario("delete", _ensure(), _delete, {}),
        Scenario("delete-local", _ensure(**LOCAL), _delete, {}),
    )
}


def _new_fake() -> GCEFake:
    return GCEFake(project=PROJECT, region=REGION, address_range=("198.18.1.0", "198.18.1.255"))


def _clean_run(scenario: Scenario) -> list[str]:
    """The scenario's mutating calls, in order."""
    with _new_fake() as fake:
        nodes = seed_nodes(fake, 3)
        provider = connect(
            SCOPE,
            endpoint=fake.endpoint,
            metrics=Metrics(),
            retry=FAST_RETRY,
            timeouts=TIMEOUTS,
            clock=FakeClock(),
        )
        try:
            scenario.setup(provider, nodes)
            fake.reset_calls()
            scenario.action(provider, nodes)
            return [call.method for call in fake.calls if call.mutating]
        finally:
            provider.close()


def _cases() -> list[Any]:
    cases = []
    for scenario in SCENARIOS.values():
        calls = _clean_run(scenario)
        for index, method in enumerate(calls):
            nth = calls[: index + 1].count(method)  # which call of that method it is
            case_id = f"{scenario.name}-{index}-{method}"
            cases.append(pytest.param(scenario.name, index, method, nth, id=case_id))
    return cases


CASES = _cases()


class Killed(BaseException):
    """Stands for the process dying: no `except Exception` stops it."""


MUTATORS = frozenset(
    {
        "insert_unary",
        "delete_unary",
        "update_unary",
        "add_instance_unary",
        "remove_instance_unary",
        "add_health_check_unary",
        "remove_health_check_unary",
        "set_target_unary",
        "insert",
        "update",
        "delete",
    }
)


class KillSwitch:
    """Wraps a provider's clients; raises Killed right after the k-th mutation returns."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.seen = 0
        self._lock = threading.Lock()

    def arm(self, clients: Clients) -> None:
        for field in ("addresses", "firewalls", "pools", "rules", "health_checks"):
            setattr(clients, field, _Wrapped(getattr(clients, field), self))

    def passed(self) -> None:
        with self._lock:
            self.seen += 1
            fire = self.seen == self.after + 1
        if fire:
            raise Killed(f"killed after mutation #{self.after}")


class _Wrapped:
    def __init__(self, inner: Any, switch: KillSwitch) -> None:
        self._inner = inner
        self._switch = switch

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in MUTATORS or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            self._switch.passed()
            return result

        return call


def _converges(
    fake: GCEFake, make_provider: ProviderFactory, scenario: Scenario, nodes: list[Node]
) -> None:
    restarted = make_provider()
    scenario.action(restarted, nodes)
    assert fake.names() == scenario.expected, "converged with nothing leaked or doubled"
    fake.reset_calls()
    scenario.action(make_provider(), nodes)
    assert fake.count(mutating=True) == 0, "a further reconcile has nothing to do"
    _delete(restarted, nodes)
    assert fake.names() == {}
    assert restarted.list_owned() == [], "lbctl gc finds nothing left"


@pytest.mark.parametrize("mode", ["http", "operation"])
@pytest.mark.parametrize(("scenario_name", "index", "method", "nth"), CASES)
def test_failed_call_then_next_reconcile_converges(
    *,
    mode: str,
    fake: GCEFake,
    make_provider: ProviderFactory,
    nodes: list[Node],
    scenario_name: str,
    index: int,
    method: str,
    nth: int,
) -> None:
    scenario = SCENARIOS[scenario_name]
    provider = make_provider()
    scenario.setup(provider, nodes)
    if mode == "http":
        rule = fake.faults.fail(method, nth=nth, status=400, reason="invalid")
    else:  # accepted, then the operation ends in error and nothing is applied
        rule = fake.faults.fail_operation(method, nth=nth, code="QUOTA_EXCEEDED")
    with contextlib.suppress(LbctlError):
        scenario.action(provider, nodes)
    assert rule.fired == 1
    scenario.action(provider, nodes)  # the same process retries
    assert fake.names() == scenario.expected
    _converges(fake, make_provider, scenario, nodes)


@pytest.mark.parametrize(("scenario_name", "index", "method", "nth"), CASES)
def test_killed_after_call_then_next_reconcile_converges(
    *,
    fake: GCEFake,
    make_provider: ProviderFactory,
    nodes: list[Node],
    scenario_name: str,
    index: int,
    method: str,
    nth: int,
) -> None:
    scenario = SCENARIOS[scenario_name]
    provider = make_provider()
    scenario.setup(provider, nodes)
    fake.reset_calls()
    switch = KillSwitch(after=index)
    switch.arm(provider.api.clients)
    with pytest.raises(Killed):
        scenario.action(provider, nodes)
    done = [c.method for c in fake.calls if c.mutating]
    assert done[-1] == method and len(done) == index + 1, "killed right after call k"
    switch.after = 10**9  # disarmed: the same provider carries on after the crash
    scenario.action(provider, nodes)
    assert fake.names() == scenario.expected
    _converges(fake, make_provider, scenario, nodes)


def test_every_scenario_has_mutations_and_shared_names_are_right() -> None:
    counts = {name: sum(1 for case in CASES if case.values[0] == name) for name in SCENARIOS}
    assert all(counts.values()), counts
    assert SHARED_HC in lb_names()["httpHealthChecks"] and SHARED_FW in lb_names()["firewalls"]
