"""A Service without a selector, fed by hand-made EndpointSlices and Endpoints (SL-1)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import backends
from conformance import manifests as m
from conformance.kube import Namespace
from conformance.probes import PodProbe, reach_all
from conformance.waiting import wait_until

MANAGER = "conformance.lbctl.io"
MIRROR_MANAGER = "endpointslicemirroring-controller.k8s.io"


def endpoint_slice(name: str, service: str, addresses: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": MANAGER,
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
        "ports": [
            {"name": "http", "port": 80, "protocol": "TCP"},
            {"name": "udp", "port": 80, "protocol": "UDP"},
        ],
    }


@pytest.mark.conformance("SL-1")
def test_selectorless_with_manual_slices_and_endpoints(ns: Namespace, client: PodProbe) -> None:
    """Two manual slices (two ports each) feed the Service; a manual Endpoints is mirrored."""
    pods = backends.deployment(ns, "manual", 2, http_port=80, udp_port=80)
    first, second = (p.ip or "" for p in pods)
    ports = [m.service_port(80, name="http"), m.service_port(80, name="udp", protocol="UDP")]
    ns.create(m.service("sliced", ports=ports))
    ns.create(endpoint_slice("sliced-a", "sliced", [first]))
    ns.create(endpoint_slice("sliced-b", "sliced", [second]))
    cip = ns.service("sliced").cluster_ip
    assert cip
    want = backends.names(pods)
    seen = reach_all(lambda n: client.http_many(cip, 80, count=n), want)
    assert set(seen) == want, f"TCP over two slices reached {dict(seen)}"
    seen = reach_all(lambda n: client.udp_many(cip, 80, count=n), want)
    assert set(seen) == want, f"UDP over two slices reached {dict(seen)}"

    ns.create(m.service("mirrored", ports=[m.service_port(80, name="http")]))
    ns.create(
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "mirrored"},
            "subsets": [{"addresses": [{"ip": first}], "ports": [{"name": "http", "port": 80}]}],
        }
    )
    wait_until(
        "the Endpoints to be mirrored into an EndpointSlice",
        lambda: first in _mirrored(ns, "mirrored"),
        timeout=60,
    )
    mirrored = ns.service("mirrored").cluster_ip
    assert mirrored
    assert (
        wait_until("the mirrored Service to answer", lambda: client.http(mirrored, 80), timeout=30)
        == pods[0].name
    )


def _mirrored(ns: Namespace, service: str) -> set[str]:
    slices = ns.kube.discovery.list_namespaced_endpoint_slice(
        ns.name,
        label_selector=f"kubernetes.io/service-name={service},"
        f"endpointslice.kubernetes.io/managed-by={MIRROR_MANAGER}",
    ).items
    return {a for s in slices for ep in s.endpoints or [] for a in ep.addresses}
