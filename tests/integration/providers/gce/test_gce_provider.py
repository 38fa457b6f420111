"""The gce provider against the GCE fake: create, every kind of update, delete.

After each operation exactly the expected resources exist (`fake.names()`),
nothing leaks, a user's static IP survives, and updates that GCE can apply
in place never delete the forwarding rule (checked in the call log).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.cloud import compute_v1

from lbcommon.errors import InvalidServiceError
from lbcommon.model import IPMode, SessionAffinity, TrafficPolicy
from lbctl.providers.gce import GceProvider
from lbctl.providers.gce.spec import MixedProtocolError
from tests.fakes.gce import GCEFake
from tests.integration.providers.gce.helpers import (
    CLUSTER_ID,
    LB,
    PROJECT,
    REGION,
    SHARED_FW,
    SHARED_HC,
    TAG,
    UID,
    Node,
    lb_names,
    seed_nodes,
    service_lb,
)

pytestmark = pytest.mark.integration

UID2 = "11111111-2222-3333-4444-555555555555"
LB2 = "a11111111222233334444555555555555"[:32]
RULE_REBUILDS = "forwardingRules.[di][en]*"  # delete or insert


def rule(fake: GCEFake, name: str = LB) -> dict[str, Any]:
    return fake.snapshot()["forwardingRules"][name]


def firewall(fake: GCEFake, name: str) -> dict[str, Any]:
    return fake.snapshot()["firewalls"][name]


def pool(fake: GCEFake, name: str = LB) -> dict[str, Any]:
    return fake.snapshot()["targetPools"][name]


def members(fake: GCEFake, name: str = LB) -> list[str]:
    return sorted(url.rsplit("/", 1)[1] for url in pool(fake, name).get("instances", []))


def reserve_user_address(fake: GCEFake, name: str, tier: str = "PREMIUM") -> str:
    client = fake.client(compute_v1.AddressesClient)
    body = compute_v1.Address(name=name, network_tier=tier, description="reserved by a human")
    client.insert(project=PROJECT, region=REGION, address_resource=body).result()  # type: ignore[no-untyped-call]
    return client.get(project=PROJECT, region=REGION, address=name).address


# -- create -------------------------------------------------------------------


def test_create_builds_what_upstream_builds(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    (ingress,) = provider.ensure(service_lb(nodes, ports=((80, "TCP", 30080), (443, "TCP", 30443))))

    assert fake.names() == lb_names()
    address = fake.snapshot()["addresses"][LB]
    assert ingress.ip == address["address"] and ingress.ip_mode is IPMode.VIP
    fwd = rule(fake)
    assert (fwd["IPAddress"], fwd["IPProtocol"], fwd["portRange"]) == (ingress.ip, "TCP", "80-443")
    assert fwd["networkTier"] == "PREMIUM" and fwd["target"].endswith(f"/targetPools/{LB}")
    owner = json.loads(fwd["description"])
    assert owner["kubernetes.io/service-name"] == "default/web"
    assert owner["lbctl.io/cluster-id"] == CLUSTER_ID and owner["lbctl.io/service-uid"] == UID
    fw = firewall(fake, f"k8s-fw-{LB}")
    assert fw["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]
    assert fw["sourceRanges"] == ["0.0.0.0/0"] and fw["destinationRanges"] == [ingress.ip]
    assert fw["targetTags"] == [TAG]
    check = fake.snapshot()["httpHealthChecks"][SHARED_HC]
    assert (check["port"], check["requestPath"], check["checkIntervalSec"]) == (
        10256,
        "/healthz",
        8,
    )
    hc_fw = firewall(fake, SHARED_FW)
    assert hc_fw["allowed"] == [{"IPProtocol": "tcp", "ports": ["10256"]}]
    assert "130.211.0.0/22" in hc_fw["sourceRanges"] and "35.191.0.0/16" in hc_fw["sourceRanges"]
    tp = pool(fake)
    assert members(fake) == ["node-0", "node-1", "node-2"]
    assert tp["sessionAffinity"] == "NONE" and tp["healthChecks"][0].endswith(SHARED_HC)


def test_ensure_again_changes_nothing_and_plan_is_empty(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    lb = service_lb(nodes)
    before = provider.plan(lb)
    assert {(c.action.value, c.kind) for c in before} >= {
        ("create", "addresses"),
        ("create", "forwardingRules"),
        ("create", "targetPools"),
    }
    assert fake.count(mutating=True) == 0, "plan mutates nothing"
    first = provider.ensure(lb)
    fake.reset_calls()
    assert provider.ensure(lb) == first
    assert provider.plan(lb) == []
    assert fake.count(mutating=True) == 0


def test_many_nodes_create_with_200_then_batches_of_1000(
    fake: GCEFake, provider: GceProvider
) -> None:
    many = seed_nodes(fake, 1250)
    provider.ensure(service_lb(many))
    inserted = [c for c in fake.calls if c.method == "targetPools.insert"]
    assert len(inserted[0].body["instances"]) == 200
    added = [len(c.body["instances"]) for c in fake.calls if c.method == "targetPools.addInstance"]
    assert added == [1000, 50]
    assert len(members(fake)) == 1250


def test_nodes_that_are_not_instances_of_the_region_are_left_out(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    ghost = Node("ghost", f"{REGION}-a", "198.18.0.99")  # no such instance
    elsewhere = Node("far", "europe-west1-b", "198.18.0.98")
    provider.ensure(service_lb([*nodes, ghost, elsewhere]))
    assert members(fake) == ["node-0", "node-1", "node-2"]


# -- updates ------------------------------------------------------------------


def test_port_change_inside_the_range_only_updates_the_firewall(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    provider.ensure(service_lb(nodes, ports=((80, "TCP", 30080), (443, "TCP", 30443))))
    fake.reset_calls()
    provider.ensure(
        service_lb(nodes, ports=((80, "TCP", 30080), (81, "TCP", 30081), (443, "TCP", 30443)))
    )
    assert [c.method for c in fake.calls if c.mutating] == ["firewalls.update"]
    assert firewall(fake, f"k8s-fw-{LB}")["allowed"][0]["ports"] == ["80-81", "443"]


def test_port_range_change_recreates_the_rule_on_the_same_ip(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    (before,) = provider.ensure(service_lb(nodes))
    (after,) = provider.ensure(service_lb(nodes, ports=((8080, "TCP", 30080),)))
    assert after.ip == before.ip
    assert rule(fake)["portRange"] == "8080-8080"
    assert fake.names() == lb_names()


def test_source_ranges_update_the_firewall_in_place_and_clear(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    provider.ensure(service_lb(nodes))
    fake.reset_calls()
    provider.ensure(service_lb(nodes, ranges=["10.0.0.0/8", "192.0.2.0/24"]))
    assert firewall(fake, f"k8s-fw-{LB}")["sourceRanges"] == ["10.0.0.0/8", "192.0.2.0/24"]
    provider.ensure(service_lb(nodes))
    assert firewall(fake, f"k8s-fw-{LB}")["sourceRanges"] == ["0.0.0.0/0"]
    assert [c.method for c in fake.calls if c.mutating] == ["firewalls.update"] * 2


def test_affinity_change_swaps_pools_without_touching_the_rule(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    (before,) = provider.ensure(service_lb(nodes))
    fake.reset_calls()
    (after,) = provider.ensure(service_lb(nodes, affinity=SessionAffinity.CLIENT_IP))
    assert after.ip == before.ip
    assert fake.count(RULE_REBUILDS) == 0, "the forwarding rule is never deleted"
    assert [c.method for c in fake.calls if c.mutating] == [
        "targetPools.insert",
        "forwardingRules.setTarget",
        "targetPools.delete",
    ]
    alt = f"{LB}-alt"
    assert fake.names()["targetPools"] == [alt]
    assert pool(fake, alt)["sessionAffinity"] == "CLIENT_IP"
    assert rule(fake)["target"].endswith(f"/targetPools/{alt}")
    assert members(fake, alt) == ["node-0", "node-1", "node-2"]

    provider.ensure(service_lb(nodes))  # and back
    assert fake.names() == lb_names()
    assert pool(fake)["sessionAffinity"] == "NONE"
    assert fake.count(RULE_REBUILDS) == 0


def test_traffic_policy_change_swaps_the_health_check_in_place(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    (before,) = provider.ensure(service_lb(nodes))
    fake.reset_calls()
    local = service_lb(nodes, policy=TrafficPolicy.LOCAL, health_port=31999)
    (after,) = provider.ensure(local)
    assert after.ip == before.ip
    assert fake.count(RULE_REBUILDS) == 0 and fake.count("targetPools.insert") == 0
    names = fake.names()
    assert names["httpHealthChecks"] == [LB], "the unused shared check is released"
    assert names["firewalls"] == sorted([f"k8s-fw-{LB}", f"k8s-{LB}-http-hc"])
    check = fake.snapshot()["httpHealthChecks"][LB]
    assert (check["port"], check["requestPath"]) == (31999, "/healthz")
    assert pool(fake)["healthChecks"][0].endswith(f"/httpHealthChecks/{LB}")

    provider.ensure(service_lb(nodes))  # back to Cluster
    assert fake.names() == lb_names()
    assert fake.count(RULE_REBUILDS) == 0


def test_shared_health_check_stays_while_another_pool_uses_it(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    provider.ensure(service_lb(nodes))
    provider.ensure(service_lb(nodes, uid=UID2, name="other"))
    provider.ensure(service_lb(nodes, policy=TrafficPolicy.LOCAL))
    assert SHARED_HC in fake.names()["httpHealthChecks"]
    provider.delete(service_lb(nodes, uid=UID2).key, UID2)
    provider.delete(service_lb(nodes).key, UID)
    assert fake.names() == {}


def test_loadbalancer_ip_moves_to_a_user_address_which_survives_delete(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    provider.ensure(service_lb(nodes))
    user_ip = reserve_user_address(fake, "user-ip")
    (ingress,) = provider.ensure(service_lb(nodes, ip=user_ip))
    assert ingress.ip == user_ip and rule(fake)["IPAddress"] == user_ip
    assert fake.names()["addresses"] == ["user-ip"], "our own address is released"
    assert firewall(fake, f"k8s-fw-{LB}")["destinationRanges"] == [user_ip]
    fake.reset_calls()
    assert provider.ensure(service_lb(nodes, ip=user_ip)) == (ingress,)
    assert fake.count(mutating=True) == 0
    provider.delete(service_lb(nodes).key, UID)
    assert fake.names() == {"addresses": ["user-ip"]}


def test_loadbalancer_ip_not_reserved_yet_is_reserved_for_us(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    (ingress,) = provider.ensure(service_lb(nodes, ip="198.18.2.77"))
    assert ingress.ip == "198.18.2.77"
    assert fake.snapshot()["addresses"][LB]["address"] == "198.18.2.77"
    provider.delete(service_lb(nodes).key, UID)
    assert fake.names() == {}


def test_loadbalancer_ip_of_another_service_is_refused(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    user_ip = reserve_user_address(fake, "shared-ip")
    provider.ensure(service_lb(nodes, uid=UID2, name="first", ip=user_ip))
    before = fake.names()
    with pytest.raises(InvalidServiceError) as caught:
        provider.ensure(service_lb(nodes, ip=user_ip))
    assert caught.value.problems[0].field == "spec.loadBalancerIP"
    assert fake.names() == before


def test_nodes_joining_and_leaving_are_one_batched_call_per_pool(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    lbs = [service_lb(nodes), service_lb(nodes, uid=UID2, name="other")]
    for lb in lbs:
        provider.ensure(lb)
    joined = [*nodes, *seed_nodes(fake, 2, start=3)]
    fake.reset_calls()
    assert (
        provider.update_backends([lb.with_backends(service_lb(joined).backends) for lb in lbs])
        == {}
    )
    assert fake.count("targetPools.addInstance") == 2 and fake.count(mutating=True) == 2
    assert members(fake) == members(fake, LB2) == [f"node-{i}" for i in range(5)]

    excluded = [n.info(excluded=n.name == "node-1") for n in joined[:4]]  # node-4 left
    fake.reset_calls()
    assert (
        provider.update_backends([lb.with_backends(service_lb(excluded).backends) for lb in lbs])
        == {}
    )
    assert fake.count("targetPools.removeInstance") == 2 and fake.count(mutating=True) == 2
    assert members(fake) == ["node-0", "node-2", "node-3"]


def test_network_tier_annotation(fake: GCEFake, provider: GceProvider, nodes: list[Node]) -> None:
    standard = {"cloud.google.com/network-tier": "Standard"}
    provider.ensure(service_lb(nodes, annotations=standard))
    assert fake.snapshot()["addresses"][LB]["networkTier"] == "STANDARD"
    assert rule(fake)["networkTier"] == "STANDARD"
    provider.ensure(service_lb(nodes))  # back to Premium: a new address (tiers own their IPs)
    assert rule(fake)["networkTier"] == "PREMIUM"
    assert fake.names() == lb_names()


@pytest.mark.parametrize(
    ("overrides", "field", "error"),
    [
        (
            {"annotations": {"cloud.google.com/network-tier": "Gold"}},
            "metadata.annotations[cloud.google.com/network-tier]",
            InvalidServiceError,
        ),
        (
            {"annotations": {"networking.gke.io/load-balancer-type": "Internal"}},
            "metadata.annotations[networking.gke.io/load-balancer-type]",
            InvalidServiceError,
        ),
        ({"ports": ((53, "TCP", 30053), (53, "UDP", 30054))}, "spec.ports", MixedProtocolError),
        ({"ports": ((80, "SCTP", 30080),)}, "spec.ports[0].protocol", InvalidServiceError),
    ],
    ids=["unknown-tier", "internal-type", "mixed-protocols", "sctp"],
)
def test_bad_input_creates_nothing(
    *,
    fake: GCEFake,
    provider: GceProvider,
    nodes: list[Node],
    overrides: dict[str, Any],
    field: str,
    error: type[Exception],
) -> None:
    with pytest.raises(error) as caught:
        provider.ensure(service_lb(nodes, **overrides))
    assert isinstance(caught.value, InvalidServiceError)
    assert field in [p.field for p in caught.value.problems]
    assert fake.count() == 0 and fake.names() == {}


# -- delete, plan_delete, gc ----------------------------------------------------


def test_delete_removes_everything_and_is_idempotent(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    lb = service_lb(nodes, policy=TrafficPolicy.LOCAL, affinity=SessionAffinity.CLIENT_IP)
    provider.ensure(lb)
    mutations = fake.count(mutating=True)
    planned = {(c.action.value, c.kind, c.name) for c in provider.plan_delete(lb.key, lb.uid)}
    assert fake.count(mutating=True) == mutations, "plan_delete mutates nothing"
    assert {
        ("delete", "forwardingRules", LB),
        ("delete", "targetPools", LB),
        ("delete", "httpHealthChecks", LB),
        ("delete", "firewalls", f"k8s-{LB}-http-hc"),
        ("delete", "firewalls", f"k8s-fw-{LB}"),
        ("delete", "addresses", LB),
    } == planned
    provider.delete(lb.key, lb.uid)
    assert fake.names() == {}
    fake.reset_calls()
    provider.delete(lb.key, lb.uid)
    assert fake.count(mutating=True) == 0
    assert provider.list_owned() == []


def test_list_owned_finds_orphans_and_delete_owned_removes_them(
    fake: GCEFake, provider: GceProvider, nodes: list[Node]
) -> None:
    provider.ensure(service_lb(nodes))
    found = provider.list_owned()
    kinds = [r.kind for r in found]
    assert kinds == sorted(
        kinds,
        key=["forwardingRules", "targetPools", "httpHealthChecks", "firewalls", "addresses"].index,
    )
    per_service = [r for r in found if r.service is not None]
    assert {r.uid for r in per_service} == {UID}
    assert all(r.name not in (SHARED_HC, SHARED_FW) for r in found), "in use: not an orphan"
    for resource in found:
        provider.delete_owned(resource)
    leftovers = provider.list_owned()
    assert {r.name for r in leftovers} == {SHARED_HC, SHARED_FW}
    for resource in leftovers:
        provider.delete_owned(resource)
    assert fake.names() == {}
