"""gce naming, ownership marks, references and LoadBalancer -> LbSpec: table-driven."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lbcommon.errors import InvalidServiceError
from lbcommon.flags import UsageError
from lbcommon.model import (
    Backend,
    FrontendPort,
    HealthCheck,
    LoadBalancer,
    Protocol,
    ServiceKey,
    SessionAffinity,
)
from lbctl.metrics import Metrics
from lbctl.providers.gce import build_gce_provider, connect, names
from lbctl.providers.gce.names import Owner, Ref, Scope
from lbctl.providers.gce.resources import canonical_ranges
from lbctl.providers.gce.spec import MixedProtocolError, Tier, collapse_ports, load_balancer_spec
from lbctl.settings import Settings

pytestmark = pytest.mark.unit

KEY = ServiceKey("ns/web")
BASE = LoadBalancer(
    key=KEY,
    uid="0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
    ports=(FrontendPort(Protocol.TCP, 80, 30080),),
    backends=(
        Backend("n1", "198.18.0.10", provider_id="gce://p/us-central1-a/n1"),
        Backend("n2", "198.18.0.11", provider_id="gce://p/us-central1-b/n2"),
    ),
    health_check=HealthCheck(port=10256),
)


def test_derived_names_match_upstream() -> None:
    assert names.firewall_name("a1") == "k8s-fw-a1"
    assert names.shared_health_check_name("c1") == "k8s-c1-node"
    assert names.health_check_firewall_name("k8s-c1-node", shared=True) == "k8s-c1-node-http-hc"
    assert names.health_check_firewall_name("a1", shared=False) == "k8s-a1-http-hc"
    assert names.pool_names("a1") == ("a1", "a1-alt")


@pytest.mark.parametrize(
    ("cluster_id", "valid"),
    [
        ("c1", True),
        ("lbctl", True),
        ("a" * 46, True),
        ("a" * 47, False),
        ("Prod", False),
        ("-x", False),
        ("x-", False),
        ("", False),
    ],
)
def test_cluster_id_must_make_valid_names(cluster_id: str, valid: bool) -> None:
    assert names.valid_cluster_id(cluster_id) is valid


@pytest.mark.parametrize(
    ("description", "owner"),
    [
        (
            names.describe(cluster_id="c1", service=KEY, uid="u", ip="1.2.3.4"),
            Owner(service=KEY, uid="u", cluster_id="c1", ip="1.2.3.4"),
        ),
        ('{"kubernetes.io/service-name":"ns/web"}', Owner(service=KEY)),  # upstream's
        (names.describe(cluster_id="c1"), Owner(cluster_id="c1")),  # shared
        ("made by hand", Owner()),
        ('["a", "list"]', Owner()),
        ('{"kubernetes.io/service-name": 7}', Owner()),
        ("", Owner()),
    ],
    ids=["ours", "upstream", "shared", "free-text", "json-list", "wrong-type", "empty"],
)
def test_parse_owner(description: str, owner: Owner) -> None:
    assert names.parse_owner(description) == owner


def test_description_starts_with_upstreams_key() -> None:
    text = names.describe(cluster_id="c1", service=KEY, uid="u")
    assert text.startswith('{"kubernetes.io/service-name":"ns/web"')


@pytest.mark.parametrize(
    ("url", "ref"),
    [
        (
            "https://www.googleapis.com/compute/v1/projects/p/zones/z-a/instances/n1",
            Ref("p", "zones/z-a", "instances", "n1"),
        ),
        (
            "http://127.0.0.1:9/compute/v1/projects/p/regions/r/targetPools/a1",
            Ref("p", "regions/r", "targetPools", "a1"),
        ),
        ("projects/p/global/httpHealthChecks/hc", Ref("p", "global", "httpHealthChecks", "hc")),
        (
            "https://compute.googleapis.com/compute/beta/projects/p/global/networks/default",
            Ref("p", "global", "networks", "default"),
        ),
        ("regions/r/targetPools/a1", None),
        ("not a url", None),
    ],
    ids=["www-host", "fake-host", "relative", "beta", "no-project", "junk"],
)
def test_refs_compare_parsed_not_as_strings(url: str, ref: Ref | None) -> None:
    assert Ref.parse(url) == ref


@pytest.mark.parametrize(
    ("provider_id", "ref"),
    [
        ("gce://p/us-central1-a/n1", Ref("p", "zones/us-central1-a", "instances", "n1")),
        ("aws:///us-east-1a/i-1", None),
        ("gce://p/n1", None),
        (None, None),
    ],
)
def test_instance_ref(provider_id: str | None, ref: Ref | None) -> None:
    assert names.instance_ref(provider_id) == ref


@pytest.mark.parametrize(
    ("ports", "entries"),
    [
        ((80,), ("80",)),
        ((443, 80), ("80", "443")),
        ((80, 81, 82, 443), ("80-82", "443")),
        ((1, 3, 4, 5, 7), ("1", "3-5", "7")),
        ((), ()),
    ],
)
def test_collapse_ports(ports: tuple[int, ...], entries: tuple[str, ...]) -> None:
    assert collapse_ports(ports) == entries


@pytest.mark.parametrize(
    ("values", "canonical"),
    [
        (["10.0.0.0/8", "0.0.0.0/0"], ("0.0.0.0/0", "10.0.0.0/8")),
        (["198.18.0.5/32", "198.18.0.5"], ("198.18.0.5",)),
        (["not-a-cidr"], ("not-a-cidr",)),
    ],
)
def test_canonical_ranges(values: list[str], canonical: tuple[str, ...]) -> None:
    assert canonical_ranges(values) == canonical


def test_spec_of_a_plain_service() -> None:
    got = load_balancer_spec(BASE, region="us-central1", cluster_id="c1")
    assert got.name == "a0b1c2d3e4f5061728394a5b6c7d8e9f"
    assert (got.port_range, got.firewall_ports, got.source_ranges) == (
        "80-80",
        ("80",),
        ("0.0.0.0/0",),
    )
    assert (got.tier, got.affinity) == (Tier.PREMIUM, "NONE")
    assert (got.health_check.name, got.health_check.port, got.health_check.shared) == (
        "k8s-c1-node",
        10256,
        True,
    )
    assert [r.name for r in got.instances] == ["n1", "n2"]


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (
            {"ports": (FrontendPort(Protocol.UDP, 53, 30053), FrontendPort(Protocol.UDP, 5353, 3))},
            lambda s: (s.protocol, s.port_range) == (Protocol.UDP, "53-5353"),
        ),
        ({"session_affinity": SessionAffinity.CLIENT_IP}, lambda s: s.affinity == "CLIENT_IP"),
        (
            {"health_check": HealthCheck(port=31000, per_service=True)},
            lambda s: (s.health_check.name, s.health_check.shared) == (s.name, False),
        ),
        (
            {"options": (("cloud.google.com/network-tier", "Standard"),)},
            lambda s: s.tier is Tier.STANDARD,
        ),
        (
            {"options": (("cloud.google.com/load-balancer-type", "External"),)},
            lambda s: s.tier is Tier.PREMIUM,
        ),
        (
            {
                "backends": (
                    Backend("x", "1.1.1.1", provider_id="gce://p/europe-west1-b/x"),
                    Backend("y", "1.1.1.2"),
                )
            },
            lambda s: s.instances == () and s.skipped == ("x", "y"),
        ),
    ],
    ids=["udp-range", "client-ip", "local-check", "standard-tier", "explicit-external", "skipped"],
)
def test_spec_variants(change: dict[str, Any], check: object) -> None:
    got = load_balancer_spec(replace(BASE, **change), region="us-central1", cluster_id="c1")
    assert callable(check) and check(got)


@pytest.mark.parametrize(
    ("change", "fields", "error"),
    [
        (
            {"ports": (FrontendPort(Protocol.TCP, 53, 1), FrontendPort(Protocol.UDP, 53, 2))},
            ["spec.ports"],
            MixedProtocolError,
        ),
        ({"ports": (FrontendPort(Protocol.SCTP, 9, 1),)}, ["spec.ports[0].protocol"], None),
        (
            {"options": (("cloud.google.com/network-tier", "premium"),)},
            ["metadata.annotations[cloud.google.com/network-tier]"],
            None,
        ),
        (
            {"options": (("networking.gke.io/load-balancer-type", "Internal"),)},
            ["metadata.annotations[networking.gke.io/load-balancer-type]"],
            None,
        ),
        ({"ip_family": "IPv6"}, ["spec.ipFamilies"], None),
        ({"requested_ip": "2001:db8::1"}, ["spec.loadBalancerIP"], None),
        ({"ports": ()}, ["spec.ports"], None),
        ({"ports": (FrontendPort(Protocol.TCP, 80, None),)}, ["spec.ports[0].nodePort"], None),
        (
            {"ports": tuple(FrontendPort(Protocol.TCP, p, p) for p in range(1000, 1404, 2))},
            ["spec.ports"],
            None,
        ),
        (
            {
                "ports": (FrontendPort(Protocol.SCTP, 9, 1), FrontendPort(Protocol.TCP, 80, 2)),
                "options": (("cloud.google.com/network-tier", "Gold"),),
            },
            [
                "metadata.annotations[cloud.google.com/network-tier]",
                "spec.ports",
                "spec.ports[0].protocol",
            ],
            MixedProtocolError,
        ),
    ],
    ids=[
        "mixed",
        "sctp",
        "tier-case",
        "internal",
        "ipv6-family",
        "ipv6-ip",
        "no-ports",
        "no-node-ports",
        "too-many-port-ranges",
        "all-problems-at-once",
    ],
)
def test_invalid_services_name_their_fields(
    change: dict[str, Any], fields: list[str], error: type[Exception] | None
) -> None:
    with pytest.raises(InvalidServiceError) as caught:
        load_balancer_spec(replace(BASE, **change), region="us-central1", cluster_id="c1")
    assert sorted(p.field for p in caught.value.problems) == sorted(fields)
    if error is not None:
        assert isinstance(caught.value, error)
        assert MixedProtocolError.condition.type == "LoadBalancerPortsError"


def test_a_cluster_id_that_cannot_name_resources_is_a_usage_error() -> None:
    scope = Scope(project="p", region="r", network="default", cluster_id="Not_Valid")
    with pytest.raises(UsageError, match="--cluster-id"):
        connect(scope, endpoint="http://127.0.0.1:9", metrics=Metrics())


def test_build_from_settings_needs_project_and_region() -> None:
    settings = Settings(
        kubeconfig=None,
        provider="gce",
        pools=(),
        load_balancer_class="x.io/lb",
        default_class=False,
        workers=1,
        resync_period=300.0,
        metrics_addr="",
        leader_elect=False,
        leader_elect_namespace="kube-system",
        leader_elect_id="me",
        cluster_id="c1",
        gce_project="p",
        gce_region=None,
        gce_endpoint="http://127.0.0.1:9",
    )
    with pytest.raises(UsageError, match="--gce-region"):
        build_gce_provider(settings, Metrics())
    provider = build_gce_provider(replace(settings, gce_region="r"), Metrics())
    try:
        assert (provider.name, provider.scope.region, provider.scope.cluster_id) == (
            "gce",
            "r",
            "c1",
        )
    finally:
        provider.close()
