"""The GCE fake, driven through the real google-cloud-compute REST clients: resources.

Covers create/get/list/delete of every kind, the error classes a provider
sees (NotFound, Conflict, PreconditionFailed, BadRequest with GCE's reasons),
name validation, address allocation and IN_USE/users, target-pool
membership, list filters and paging. Faults, operations, quotas and the call
log are in test_gce_fake_faults.py.
"""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1 as c

from tests.fakes.gce import GCEFake
from tests.integration.fakes.gce_clients import PROJECT, REGION, ZONE, Clients, rest

pytestmark = pytest.mark.integration

R = {"project": PROJECT, "region": REGION}


def _reason(error: exceptions.GoogleAPICallError) -> str:
    return str(error.errors[0]["reason"])


def _pool(gce: Clients, name: str, instances: list[str] | None = None) -> None:
    pool = c.TargetPool(name=name, instances=instances or [], session_affinity="CLIENT_IP")
    gce.pools.insert(**R, target_pool_resource=pool).result()


def _rule(
    gce: Clients, fake: GCEFake, name: str, *, pool: str, ip: str = "", ports: str = "80"
) -> None:
    rule = c.ForwardingRule(
        name=name,
        I_p_address=ip,
        I_p_protocol="TCP",
        port_range=ports,
        target=fake.link("targetPools", pool),
        description='{"kubernetes.io/service-name":"ns/svc"}',
    )
    gce.rules.insert(**R, forwarding_rule_resource=rule).result()


# -- addresses -------------------------------------------------------------------


def test_address_lifecycle(fake: GCEFake, gce: Clients) -> None:
    op = gce.addresses.insert(**R, address_resource=c.Address(name="a1", description="d"))
    assert op.result() is None
    assert op.status == c.Operation.Status.DONE
    assert op.target_link == fake.link("addresses", "a1")

    got = gce.addresses.get(**R, address="a1")
    assert (got.address, got.status, got.network_tier) == ("198.18.0.200", "RESERVED", "PREMIUM")
    assert got.kind == "compute#address"
    assert got.self_link == fake.link("addresses", "a1")
    assert got.id > 0 and got.creation_timestamp
    assert [a.name for a in gce.addresses.list(**R)] == ["a1"]

    gce.addresses.delete(**R, address="a1").result()
    with pytest.raises(exceptions.NotFound) as caught:
        gce.addresses.get(**R, address="a1")
    assert _reason(caught.value) == "notFound"
    assert fake.names() == {}


def test_addresses_are_allocated_only_from_the_range(fake: GCEFake, gce: Clients) -> None:
    for name in ("a", "b", "c"):
        gce.addresses.insert(**R, address_resource=c.Address(name=name)).result()
    explicit = c.Address(name="d", address="198.18.0.240")
    gce.addresses.insert(**R, address_resource=explicit).result()
    got = {a.name: a.address for a in gce.addresses.list(**R)}
    assert got == {
        "a": "198.18.0.200",
        "b": "198.18.0.201",
        "c": "198.18.0.202",
        "d": "198.18.0.240",
    }

    with pytest.raises(exceptions.BadRequest):
        gce.addresses.insert(**R, address_resource=c.Address(name="e", address="203.0.113.9"))
    with pytest.raises(exceptions.Conflict) as caught:
        gce.addresses.insert(**R, address_resource=c.Address(name="f", address="198.18.0.240"))
    assert "IP_IN_USE_BY_ANOTHER_RESOURCE" in str(caught.value)


def test_exhausted_range_is_a_quota_error() -> None:
    with GCEFake(address_range=("198.18.0.200", "198.18.0.201")) as small:
        client = small.client(c.AddressesClient)
        for name in ("a", "b"):
            client.insert(**R, address_resource=c.Address(name=name)).result()
        with pytest.raises(exceptions.Forbidden) as caught:
            client.insert(**R, address_resource=c.Address(name="x"))
        assert _reason(caught.value) == "quotaExceeded"


def test_address_range_outside_the_benchmark_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"198\.18\.0\.0/15"):
        GCEFake(address_range=("10.0.0.1", "10.0.0.9"))


def test_address_in_use_by_a_rule(fake: GCEFake, gce: Clients) -> None:
    gce.addresses.insert(**R, address_resource=c.Address(name="lb")).result()
    ip = gce.addresses.get(**R, address="lb").address
    _pool(gce, "lb")
    _rule(gce, fake, "lb", pool="lb", ip=ip)

    used = gce.addresses.get(**R, address="lb")
    assert used.status == "IN_USE"
    assert list(used.users) == [fake.link("forwardingRules", "lb")]
    with pytest.raises(exceptions.BadRequest) as caught:
        gce.addresses.delete(**R, address="lb")
    assert _reason(caught.value) == "resourceInUseByAnotherResource"

    gce.rules.delete(**R, forwarding_rule="lb").result()
    assert gce.addresses.get(**R, address="lb").status == "RESERVED"


def test_reserving_an_ephemeral_ip_promotes_it(fake: GCEFake, gce: Clients) -> None:
    _pool(gce, "lb")
    _rule(gce, fake, "lb", pool="lb")
    ip = gce.rules.get(**R, forwarding_rule="lb").I_p_address
    assert ip == "198.18.0.200"
    gce.addresses.insert(**R, address_resource=c.Address(name="keep", address=ip)).result()
    assert gce.addresses.get(**R, address="keep").status == "IN_USE"


# -- firewalls --------------------------------------------------------------------


def test_firewall_insert_patch_update_delete(fake: GCEFake, gce: Clients) -> None:
    firewall = c.Firewall(
        name="k8s-fw-a1",
        allowed=[c.Allowed(I_p_protocol="tcp", ports=["80", "8000-8080"])],
        source_ranges=["10.0.0.0/8"],
        destination_ranges=["198.18.0.200"],
        target_tags=["node"],
        description="svc",
    )
    gce.firewalls.insert(project=PROJECT, firewall_resource=firewall).result()
    got = gce.firewalls.get(project=PROJECT, firewall="k8s-fw-a1")
    assert (got.priority, got.direction, got.network) == (
        1000,
        "INGRESS",
        fake.link("networks", "default"),
    )

    patch = c.Firewall(source_ranges=["192.0.2.0/24"])
    gce.firewalls.patch(project=PROJECT, firewall="k8s-fw-a1", firewall_resource=patch).result()
    got = gce.firewalls.get(project=PROJECT, firewall="k8s-fw-a1")
    assert list(got.source_ranges) == ["192.0.2.0/24"]
    assert list(got.target_tags) == ["node"]  # patch kept what it did not name

    replacement = c.Firewall(name="k8s-fw-a1", allowed=[c.Allowed(I_p_protocol="udp")])
    gce.firewalls.update(
        project=PROJECT, firewall="k8s-fw-a1", firewall_resource=replacement
    ).result()
    got = gce.firewalls.get(project=PROJECT, firewall="k8s-fw-a1")
    assert list(got.source_ranges) == ["0.0.0.0/0"]  # update reset it to the default
    assert list(got.target_tags) == []
    assert [a.I_p_protocol for a in got.allowed] == ["udp"]

    assert [f.name for f in gce.firewalls.list(project=PROJECT)] == ["k8s-fw-a1"]
    gce.firewalls.delete(project=PROJECT, firewall="k8s-fw-a1").result()
    assert fake.names() == {}


@pytest.mark.parametrize(
    "firewall",
    [
        pytest.param(c.Firewall(name="f"), id="neither-allowed-nor-denied"),
        pytest.param(
            c.Firewall(name="f", allowed=[c.Allowed(I_p_protocol="icmp", ports=["1"])]),
            id="ports-on-icmp",
        ),
        pytest.param(
            c.Firewall(name="f", allowed=[c.Allowed(I_p_protocol="tcp", ports=["70000"])]),
            id="port-out-of-range",
        ),
        pytest.param(
            c.Firewall(
                name="f", allowed=[c.Allowed(I_p_protocol="tcp")], source_ranges=["10.0.0.1/8"]
            ),
            id="cidr-with-host-bits",
        ),
        pytest.param(
            c.Firewall(name="f", allowed=[c.Allowed(I_p_protocol="tcp")], source_ranges=["nope"]),
            id="not-a-cidr",
        ),
    ],
)
def test_firewall_validation(gce: Clients, firewall: c.Firewall) -> None:
    with pytest.raises(exceptions.BadRequest):
        gce.firewalls.insert(project=PROJECT, firewall_resource=firewall)


def test_firewall_on_unknown_network_is_not_found(gce: Clients) -> None:
    firewall = c.Firewall(
        name="f", allowed=[c.Allowed(I_p_protocol="tcp")], network="global/networks/x"
    )
    with pytest.raises(exceptions.NotFound):
        gce.firewalls.insert(project=PROJECT, firewall_resource=firewall)


# -- legacy httpHealthChecks (raw REST) ---------------------------------------------


def test_http_health_check_lifecycle_over_rest(fake: GCEFake, gce: Clients) -> None:
    status, op = rest(fake, gce, "POST", "global/httpHealthChecks", {"name": "hc", "port": 10256})
    assert (status, op["kind"], op["status"]) == (200, "compute#operation", "DONE")
    status, hc = rest(fake, gce, "GET", "global/httpHealthChecks/hc")
    assert (hc["port"], hc["requestPath"], hc["checkIntervalSec"]) == (10256, "/", 5)

    status, _ = rest(fake, gce, "PATCH", "global/httpHealthChecks/hc", {"requestPath": "/healthz"})
    assert rest(fake, gce, "GET", "global/httpHealthChecks/hc")[1]["requestPath"] == "/healthz"
    rest(fake, gce, "PUT", "global/httpHealthChecks/hc", {"name": "hc", "port": 31000})
    hc = rest(fake, gce, "GET", "global/httpHealthChecks/hc")[1]
    assert (hc["port"], hc["requestPath"]) == (31000, "/")

    status, error = rest(
        fake, gce, "POST", "global/httpHealthChecks", {"name": "bad", "timeoutSec": 9}
    )
    assert (status, error["error"]["errors"][0]["reason"]) == (400, "invalid")

    _pool(gce, "tp")
    gce.pools.add_health_check(
        **R,
        target_pool="tp",
        target_pools_add_health_check_request_resource=c.TargetPoolsAddHealthCheckRequest(
            health_checks=[c.HealthCheckReference(health_check=fake.link("httpHealthChecks", "hc"))]
        ),
    ).result()
    status, error = rest(fake, gce, "DELETE", "global/httpHealthChecks/hc")
    assert (status, error["error"]["errors"][0]["reason"]) == (
        400,
        "resourceInUseByAnotherResource",
    )
    assert rest(fake, gce, "GET", "global/httpHealthChecks")[1]["items"][0]["name"] == "hc"


# -- target pools and forwarding rules ------------------------------------------------


@pytest.fixture
def nodes(fake: GCEFake) -> list[str]:
    names = ["n1", "n2", "n3"]
    for i, name in enumerate(names):
        fake.seed_instance(name, ZONE, f"198.18.0.{10 + i}", ["node"])
    return [fake.instance_link(name, ZONE) for name in names]


def _members(gce: Clients, pool: str) -> list[str]:
    return [url.rsplit("/", 1)[1] for url in gce.pools.get(**R, target_pool=pool).instances]


def test_target_pool_membership(fake: GCEFake, gce: Clients, nodes: list[str]) -> None:
    _pool(gce, "tp", nodes[:1])
    assert gce.pools.get(**R, target_pool="tp").session_affinity == "CLIENT_IP"

    def add(urls: list[str]) -> None:
        refs = [c.InstanceReference(instance=u) for u in urls]
        body = c.TargetPoolsAddInstanceRequest(instances=refs)
        gce.pools.add_instance(
            **R, target_pool="tp", target_pools_add_instance_request_resource=body
        ).result()

    def remove(urls: list[str]) -> None:
        refs = [c.InstanceReference(instance=u) for u in urls]
        body = c.TargetPoolsRemoveInstanceRequest(instances=refs)
        gce.pools.remove_instance(
            **R, target_pool="tp", target_pools_remove_instance_request_resource=body
        ).result()

    add(nodes[1:])
    assert _members(gce, "tp") == ["n1", "n2", "n3"]
    with pytest.raises(exceptions.BadRequest):
        add(nodes[:1])  # already a member
    remove(nodes[:1])
    assert _members(gce, "tp") == ["n2", "n3"]
    with pytest.raises(exceptions.BadRequest):
        remove(nodes[:1])  # not a member
    with pytest.raises(exceptions.NotFound):
        add([fake.instance_link("ghost", ZONE)])

    fake.remove_instance("n3", ZONE)  # a node went away: its URL can still be removed
    remove(nodes[2:])
    assert _members(gce, "tp") == ["n2"]


def test_target_pool_request_limit(fake: GCEFake, gce: Clients) -> None:
    urls = [fake.instance_link(f"n{i}", ZONE) for i in range(1001)]
    with pytest.raises(exceptions.BadRequest) as caught:
        _pool(gce, "big", urls)
    assert "1000" in str(caught.value)


def test_target_pool_in_use_and_get_health(fake: GCEFake, gce: Clients, nodes: list[str]) -> None:
    _pool(gce, "tp", nodes)
    _rule(gce, fake, "fr", pool="tp")
    with pytest.raises(exceptions.BadRequest) as caught:
        gce.pools.delete(**R, target_pool="tp")
    assert _reason(caught.value) == "resourceInUseByAnotherResource"

    fake.set_instance_health("n2", ZONE, "UNHEALTHY")
    health = gce.pools.get_health(
        **R, target_pool="tp", instance_reference_resource=c.InstanceReference(instance=nodes[1])
    )
    assert [h.health_state for h in health.health_status] == ["UNHEALTHY"]
    assert health.health_status[0].ip_address == "198.18.0.200"


def test_forwarding_rule_set_target_and_labels(fake: GCEFake, gce: Clients) -> None:
    _pool(gce, "one")
    _pool(gce, "two")
    _rule(gce, fake, "fr", pool="one", ports="443")
    rule = gce.rules.get(**R, forwarding_rule="fr")
    assert (rule.port_range, rule.load_balancing_scheme, rule.network_tier) == (
        "443-443",
        "EXTERNAL",
        "PREMIUM",
    )
    before = rule.fingerprint
    gce.rules.set_target(
        **R,
        forwarding_rule="fr",
        target_reference_resource=c.TargetReference(target=fake.link("targetPools", "two")),
    ).result()
    rule = gce.rules.get(**R, forwarding_rule="fr")
    assert rule.target == fake.link("targetPools", "two")
    assert rule.fingerprint != before

    labels = c.RegionSetLabelsRequest(
        labels={"owner": "lbctl"}, label_fingerprint=rule.label_fingerprint
    )
    gce.rules.set_labels(**R, resource="fr", region_set_labels_request_resource=labels).result()
    assert dict(gce.rules.get(**R, forwarding_rule="fr").labels) == {"owner": "lbctl"}
    with pytest.raises(exceptions.PreconditionFailed) as caught:  # the fingerprint is now stale
        gce.rules.set_labels(**R, resource="fr", region_set_labels_request_resource=labels)
    assert _reason(caught.value) == "conditionNotMet"


def test_rules_share_an_address_only_without_port_overlap(fake: GCEFake, gce: Clients) -> None:
    gce.addresses.insert(**R, address_resource=c.Address(name="ip")).result()
    _pool(gce, "tp")
    _rule(gce, fake, "web", pool="tp", ip="198.18.0.200", ports="80")
    _rule(gce, fake, "tls", pool="tp", ip="198.18.0.200", ports="443")
    with pytest.raises(exceptions.BadRequest, match="in-use and would result in a conflict"):
        _rule(gce, fake, "clash", pool="tp", ip="198.18.0.200", ports="1-100")
    assert len(gce.addresses.get(**R, address="ip").users) == 2
    with pytest.raises(exceptions.BadRequest):  # an IP the project has not reserved
        _rule(gce, fake, "stray", pool="tp", ip="198.18.0.230")
    with pytest.raises(exceptions.NotFound):
        _rule(gce, fake, "nowhere", pool="missing")


# -- errors common to every kind ----------------------------------------------------------


def test_duplicate_insert_is_conflict(gce: Clients) -> None:
    _pool(gce, "tp")
    with pytest.raises(exceptions.Conflict) as caught:
        _pool(gce, "tp")
    assert _reason(caught.value) == "alreadyExists"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a", True),
        ("a-1", True),
        ("a" + "b" * 62, True),
        ("a" + "b" * 63, False),
        ("Upper", False),
        ("1abc", False),
        ("ends-", False),
        ("under_score", False),
        ("", False),
    ],
)
def test_name_validation(gce: Clients, name: str, ok: bool) -> None:
    insert = gce.addresses.insert
    if ok:
        insert(**R, address_resource=c.Address(name=name)).result()
    else:
        with pytest.raises(exceptions.BadRequest) as caught:
            insert(**R, address_resource=c.Address(name=name))
        assert _reason(caught.value) in ("invalid", "required")


def test_unknown_region_and_foreign_project(gce: Clients) -> None:
    with pytest.raises(exceptions.BadRequest, match="Unknown region"):
        gce.addresses.get(project=PROJECT, region="mars-1", address="a")
    with pytest.raises(exceptions.NotFound):
        gce.addresses.get(project="other", region=REGION, address="a")


def test_unmodelled_methods_are_loud(gce: Clients) -> None:
    with pytest.raises(exceptions.MethodNotImplemented):
        gce.rules.patch(**R, forwarding_rule="x", forwarding_rule_resource=c.ForwardingRule())


# -- instances, filters, paging, aggregated lists ---------------------------------------------


def test_seeded_instances(fake: GCEFake, gce: Clients, nodes: list[str]) -> None:
    got = gce.instances.get(project=PROJECT, zone=ZONE, instance="n2")
    assert got.network_interfaces[0].network_i_p == "198.18.0.11"
    assert list(got.tags.items) == ["node"]
    assert [i.name for i in gce.instances.list(project=PROJECT, zone=ZONE)] == ["n1", "n2", "n3"]
    scopes = {
        scope: len(s.instances) for scope, s in gce.instances.aggregated_list(project=PROJECT)
    }
    assert scopes[f"zones/{ZONE}"] == 3 and scopes["zones/us-central1-b"] == 0


def test_list_filters(fake: GCEFake, gce: Clients) -> None:
    _pool(gce, "tp")
    _rule(gce, fake, "a", pool="tp", ports="80")
    _rule(gce, fake, "b", pool="tp", ports="81")

    def names(expr: str) -> list[str]:
        request = c.ListForwardingRulesRequest(project=PROJECT, region=REGION, filter=expr)
        return [r.name for r in gce.rules.list(request=request)]

    assert names('name = "a"') == ["a"]
    assert names("name != a") == ["b"]
    assert names(r'description = "{\"kubernetes.io/service-name\":\"ns/svc\"}"') == ["a", "b"]
    assert names("(name = a) OR (portRange = 81-81)") == ["a", "b"]
    assert names("name eq '[ab]'") == ["a", "b"]
    with pytest.raises(exceptions.BadRequest):
        names("name > a")


def test_paging_follows_next_page_token(fake: GCEFake, gce: Clients) -> None:
    for i in range(7):
        firewall = c.Firewall(name=f"f{i}", allowed=[c.Allowed(I_p_protocol="tcp")])
        gce.firewalls.insert(project=PROJECT, firewall_resource=firewall).result()
    fake.reset_calls()
    request = c.ListFirewallsRequest(project=PROJECT, max_results=3)
    assert len(list(gce.firewalls.list(request=request))) == 7
    assert fake.count("firewalls.list") == 3
