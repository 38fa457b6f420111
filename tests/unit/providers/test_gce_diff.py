"""The pure gce diff: (LbSpec, Observed) -> steps, table-driven, no fake, no mocks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lbcommon.errors import InvalidServiceError
from lbcommon.model import Backend, FrontendPort, HealthCheck, LoadBalancer, Protocol, ServiceKey
from lbctl.providers.gce import diff, names
from lbctl.providers.gce.names import Ref, Scope
from lbctl.providers.gce.resources import Address, Kind, Observed, Pool, Rule
from lbctl.providers.gce.spec import LbSpec, Tier, load_balancer_spec
from lbctl.providers.gce.steps import Step, Verb

pytestmark = pytest.mark.unit

SCOPE = Scope(project="p", region="r", network="default", cluster_id="c1")
KEY = ServiceKey("ns/web")
INSTANCES = tuple(Ref("p", "zones/r-a", "instances", f"n{i}") for i in range(3))
LB = LoadBalancer(
    key=KEY,
    uid="1234",
    ports=(FrontendPort(Protocol.TCP, 80, 30080),),
    backends=tuple(
        Backend(ref.name, f"198.18.0.{i}", provider_id=f"gce://p/r-a/{ref.name}")
        for i, ref in enumerate(INSTANCES)
    ),
    health_check=HealthCheck(port=10256),
)
SPEC = load_balancer_spec(LB, region="r", cluster_id="c1")
NAME = SPEC.name  # "a1234"
ALT = f"{NAME}-alt"
IP = "198.18.1.7"
SHARED = "k8s-c1-node"


def with_spec(**change: Any) -> LbSpec:
    return replace(SPEC, **change)


def converged(spec: LbSpec = SPEC) -> Observed:
    """What exists after a successful ensure of `spec` (built by running the diff)."""
    obs = Observed(
        address=Address(NAME, IP, spec.tier.value, "ours"),
        existing=frozenset(spec.instances),
        tags=("node",),
        shared_in_use=False,
    )
    for _ in range(3):  # apply plan_resources' inserts/updates as if the API did
        steps = diff.plan_resources(spec, obs, SCOPE, ip=IP)
        obs = _apply(obs, steps)
    return obs


def _apply(obs: Observed, steps: list[Step]) -> Observed:
    firewalls, checks, pools = dict(obs.firewalls), dict(obs.health_checks), dict(obs.pools)
    rule = obs.rule
    for step in steps:
        payload = step.payload
        if step.kind is Kind.FIREWALL and step.verb in (Verb.INSERT, Verb.UPDATE):
            firewalls[step.name] = payload  # type: ignore[assignment]
        elif step.kind is Kind.HEALTH_CHECK and step.verb in (Verb.INSERT, Verb.UPDATE):
            checks[step.name] = payload  # type: ignore[assignment]
        elif step.kind is Kind.POOL and step.verb is Verb.INSERT:
            pools[step.name] = payload  # type: ignore[assignment]
        elif step.kind is Kind.RULE and step.verb is Verb.INSERT:
            rule = payload  # type: ignore[assignment]
    return replace(obs, firewalls=firewalls, health_checks=checks, pools=pools, rule=rule)


def verbs(steps: list[Step]) -> list[str]:
    return [f"{s.verb.value} {s.kind.value} {s.name}" for s in steps]


# -- the address ----------------------------------------------------------------

USER_IP = "198.18.2.2"
USER = Address("user-ip", USER_IP, "PREMIUM", "human")
RULE = Rule(NAME, "", IP, "TCP", "80-80", NAME, "PREMIUM")


@pytest.mark.parametrize(
    ("spec", "obs", "expected_steps", "ip", "release"),
    [
        (SPEC, Observed(), [f"insert addresses {NAME}"], None, False),
        (SPEC, Observed(address=Address(NAME, IP, "PREMIUM")), [], IP, False),
        (
            SPEC,
            Observed(rule=RULE),  # an ephemeral IP in use: promote it
            [f"insert addresses {NAME}"],
            IP,
            False,
        ),
        (
            with_spec(requested_ip=USER_IP),
            Observed(address=Address(NAME, IP, "PREMIUM"), ip_holders={USER_IP: USER}),
            [],
            USER_IP,
            True,
        ),
        (
            with_spec(requested_ip="198.18.2.9"),
            Observed(),
            [f"insert addresses {NAME}"],
            "198.18.2.9",
            False,
        ),
        (
            with_spec(requested_ip="198.18.2.9"),
            Observed(address=Address(NAME, IP, "PREMIUM"), rule=RULE),
            [
                f"delete forwardingRules {NAME}",
                f"delete addresses {NAME}",
                f"insert addresses {NAME}",
            ],
            "198.18.2.9",
            False,
        ),
        (
            with_spec(tier=Tier.STANDARD),
            Observed(address=Address(NAME, IP, "PREMIUM"), rule=RULE),
            [
                f"delete forwardingRules {NAME}",
                f"delete addresses {NAME}",
                f"insert addresses {NAME}",
            ],
            None,
            False,
        ),
        (
            SPEC,
            Observed(rule=replace(RULE, ip=USER_IP), ip_holders={USER_IP: USER}),
            [],  # loadBalancerIP was removed: keep serving on the user's address
            USER_IP,
            False,
        ),
    ],
    ids=[
        "new",
        "reserved",
        "promote-ephemeral",
        "user-address",
        "requested-free-ip",
        "requested-changes-ours",
        "tier-change",
        "user-address-kept",
    ],
)
def test_plan_address(
    spec: LbSpec, obs: Observed, expected_steps: list[str], ip: str | None, release: bool
) -> None:
    plan = diff.plan_address(spec, obs, SCOPE)
    assert verbs(list(plan.steps)) == expected_steps
    assert (plan.ip, plan.release) == (ip, release)
    reserve = [s for s in plan.steps if s.verb is Verb.INSERT]
    for step in reserve:
        assert isinstance(step.payload, Address) and step.payload.tier == spec.tier.value


@pytest.mark.parametrize(
    ("holder", "field"),
    [
        (replace(USER, tier="STANDARD"), "metadata.annotations[cloud.google.com/network-tier]"),
        (
            replace(USER, users=(Ref("p", "regions/r", "forwardingRules", "a9999"),)),
            "spec.loadBalancerIP",
        ),
    ],
    ids=["wrong-tier", "used-by-another-service"],
)
def test_unusable_user_address_is_invalid(holder: Address, field: str) -> None:
    with pytest.raises(InvalidServiceError) as caught:
        diff.plan_address(
            with_spec(requested_ip=USER_IP), Observed(ip_holders={USER_IP: holder}), SCOPE
        )
    assert [p.field for p in caught.value.problems] == [field]


# -- the rest -------------------------------------------------------------------


def test_create_order_and_nothing_after_convergence() -> None:
    steps = diff.plan_resources(SPEC, Observed(existing=frozenset(INSTANCES)), SCOPE, ip=IP)
    assert verbs(steps) == [
        f"insert firewalls k8s-fw-{NAME}",
        f"insert firewalls {SHARED}-http-hc",
        f"insert httpHealthChecks {SHARED}",
        f"insert targetPools {NAME}",
        f"insert forwardingRules {NAME}",
    ]
    assert all(s.shared for s in steps[1:4]) and not steps[0].shared
    assert diff.plan_resources(SPEC, converged(), SCOPE, ip=IP) == []


@pytest.mark.parametrize(
    ("new_spec", "expected"),
    [
        (with_spec(source_ranges=("10.0.0.0/8",)), [f"update firewalls k8s-fw-{NAME}"]),
        (
            with_spec(ports=(80, 81)),
            [
                f"update firewalls k8s-fw-{NAME}",
                f"delete forwardingRules {NAME}",
                f"insert forwardingRules {NAME}",
            ],
        ),
        (
            with_spec(affinity="CLIENT_IP"),
            [
                f"insert targetPools {NAME}-alt",
                f"setTarget forwardingRules {NAME}",
                f"delete targetPools {NAME}",
            ],
        ),
        (with_spec(instances=INSTANCES[:2]), [f"removeInstance targetPools {NAME}"]),
        (
            with_spec(health_check=replace(SPEC.health_check, name=NAME, port=31000, shared=False)),
            [
                f"insert firewalls k8s-{NAME}-http-hc",
                f"insert httpHealthChecks {NAME}",
                f"removeHealthCheck targetPools {NAME}",
                f"addHealthCheck targetPools {NAME}",
                f"release httpHealthChecks {SHARED}",
            ],
        ),
    ],
    ids=["source-ranges", "port-range", "affinity", "node-left", "to-local"],
)
def test_updates_are_in_place_where_gce_allows(new_spec: LbSpec, expected: list[str]) -> None:
    assert verbs(diff.plan_resources(new_spec, converged(), SCOPE, ip=IP)) == expected


def test_node_joins_is_one_add_before_any_remove() -> None:
    obs = converged(with_spec(instances=INSTANCES[:2]))
    steps = diff.plan_resources(SPEC, replace(obs, existing=frozenset(INSTANCES)), SCOPE, ip=IP)
    assert verbs(steps) == [f"addInstance targetPools {NAME}"]
    assert steps[0].payload == (INSTANCES[2],)


def test_missing_instances_are_not_added() -> None:
    obs = replace(converged(with_spec(instances=INSTANCES[:2])), existing=frozenset(INSTANCES[:2]))
    assert diff.plan_resources(SPEC, obs, SCOPE, ip=IP) == []


def test_no_backends_keeps_firewall_tags() -> None:
    obs = replace(converged(), tags=())
    assert diff.plan_resources(with_spec(instances=()), obs, SCOPE, ip=IP) == [
        Step(Kind.POOL, Verb.REMOVE_INSTANCES, NAME, INSTANCES)
    ]


def test_larger_user_tuned_health_check_timings_are_kept() -> None:
    obs = converged()
    tuned = replace(obs.health_checks[SHARED], interval=30, unhealthy=10)
    obs = replace(obs, health_checks={SHARED: tuned})
    assert diff.plan_resources(SPEC, obs, SCOPE, ip=IP) == []
    loose = replace(tuned, healthy=0)
    steps = diff.plan_resources(SPEC, replace(obs, health_checks={SHARED: loose}), SCOPE, ip=IP)
    assert verbs(steps) == [f"update httpHealthChecks {SHARED}"]
    assert steps[0].payload == replace(tuned, healthy=1)


@pytest.mark.parametrize(
    ("pools", "target", "affinity", "expected"),
    [
        ({}, None, "NONE", (NAME, True, None)),
        ({NAME: "NONE"}, NAME, "NONE", (NAME, False, None)),
        ({NAME: "NONE"}, NAME, "CLIENT_IP", (f"{NAME}-alt", True, None)),
        ({NAME: "NONE", ALT: "CLIENT_IP"}, NAME, "CLIENT_IP", (ALT, False, None)),
        ({f"{NAME}-alt": "CLIENT_IP"}, f"{NAME}-alt", "NONE", (NAME, True, None)),
        ({NAME: "NONE", ALT: "NONE"}, NAME, "CLIENT_IP", (ALT, True, ALT)),
        ({NAME: "CLIENT_IP"}, None, "NONE", (f"{NAME}-alt", True, None)),
    ],
    ids=[
        "none",
        "fits",
        "affinity-change",
        "crash-after-new-pool",
        "back",
        "both-wrong",
        "no-rule",
    ],
)
def test_choose_pool(
    pools: dict[str, str], target: str | None, affinity: str, expected: tuple[object, ...]
) -> None:
    observed = {n: Pool(n, "", frozenset(), (SHARED,), a) for n, a in pools.items()}
    rule = replace(RULE, pool=target) if target else None
    obs = Observed(pools=observed, rule=rule)
    assert diff.choose_pool(with_spec(affinity=affinity), obs) == expected


@pytest.mark.parametrize(
    ("obs", "expected"),
    [
        (Observed(shared_in_use=True), []),
        (
            replace(converged(), shared_in_use=True),
            [
                f"delete forwardingRules {NAME}",
                f"delete targetPools {NAME}",
                f"delete firewalls k8s-fw-{NAME}",
                f"delete addresses {NAME}",
            ],
        ),
        (
            replace(converged(), shared_in_use=False),
            [
                f"delete forwardingRules {NAME}",
                f"delete targetPools {NAME}",
                f"release httpHealthChecks {SHARED}",
                f"delete firewalls k8s-fw-{NAME}",
                f"delete addresses {NAME}",
            ],
        ),
        (
            replace(converged(), shared_in_use=True, address=USER),
            [
                f"delete forwardingRules {NAME}",
                f"delete targetPools {NAME}",
                f"delete firewalls k8s-fw-{NAME}",
            ],
        ),
    ],
    ids=["nothing", "shared-check-in-use", "last-user-releases", "foreign-address-kept"],
)
def test_plan_delete(obs: Observed, expected: list[str]) -> None:
    if obs.address is not None and obs.address.name == NAME:
        obs = replace(
            obs, address=replace(obs.address, description=names.describe(cluster_id="c1"))
        )
    assert verbs(diff.plan_delete(NAME, KEY, obs, SCOPE)) == expected


def test_plan_ensure_shows_the_pending_ip() -> None:
    changes = [s.change() for s in diff.plan_ensure(SPEC, Observed(existing=frozenset()), SCOPE)]
    assert str(changes[0]).startswith(f"create addresses {NAME}")
    assert diff.PENDING_IP in changes[1].detail
