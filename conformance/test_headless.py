"""Headless Services and StatefulSets in DNS (HL-1 .. HL-3)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import backends
from conformance import manifests as m
from conformance.dnsparse import Lookup
from conformance.kube import Namespace
from conformance.probes import PodProbe
from conformance.topology import CLUSTER_DOMAIN, Topology
from conformance.waiting import wait_until

APP = "hl"


def headless(name: str, **spec: Any) -> m.Manifest:
    return m.service(
        name, ports=[m.service_port(80)], selector=m.app_selector(APP), clusterIP="None", **spec
    )


def addresses_become(client: PodProbe, name: str, want: set[str]) -> Lookup:
    """Wait until `name` resolves to exactly `want` (DNS caches for up to 30 s)."""

    def exact() -> Lookup | None:
        lookup = client.nslookup(name)
        return lookup if set(lookup.addresses) == want else None

    return wait_until(f"{name} to resolve to {sorted(want)}", exact, timeout=90, interval=2)


@pytest.mark.conformance("HL-1")
def test_headless_one_record_per_ready_pod(
    ns: Namespace, topology: Topology, client: PodProbe
) -> None:
    """`clusterIP: None` gets no ClusterIP; DNS answers one A record per ready pod only."""
    topology.need_dns()
    ready = backends.deployment(ns, APP, 2)
    ns.create(m.backend_pod("never-ready", APP, ready=False))
    ns.create(headless(APP))
    assert ns.service(APP).cluster_ip == "None"
    ns.wait_pod_running("never-ready")
    addresses_become(client, f"{APP}.{ns.name}.svc.{CLUSTER_DOMAIN}", backends.ips(ready))


@pytest.mark.conformance("HL-2")
def test_statefulset_pods_resolve_individually(
    ns: Namespace, topology: Topology, client: PodProbe
) -> None:
    """`<pod>.<svc>.<ns>.svc.cluster.local` resolves to that StatefulSet pod's IP."""
    topology.need_dns()
    ns.create(headless(APP))
    ns.create(m.statefulset(APP, APP, replicas=2, service_name=APP, spec=backends.spread_spec(APP)))
    pods = ns.wait_ready(m.app_selector(APP), 2, timeout=backends.POD_READY_TIMEOUT)
    for pod in pods:
        assert pod.ip
        addresses_become(client, f"{pod.name}.{APP}.{ns.name}.svc.{CLUSTER_DOMAIN}", {pod.ip})


@pytest.mark.conformance("HL-3")
def test_publish_not_ready_addresses(ns: Namespace, topology: Topology, client: PodProbe) -> None:
    """With publishNotReadyAddresses an unready pod is in DNS; without it, it is not."""
    topology.need_dns()
    [ready] = backends.deployment(ns, APP, 1)
    ns.create(m.backend_pod("never-ready", APP, ready=False))
    unready = ns.wait_pod_running("never-ready")
    assert ready.ip and unready.ip
    ns.create(headless("published", publishNotReadyAddresses=True))
    ns.create(headless("unpublished"))
    domain = f"{ns.name}.svc.{CLUSTER_DOMAIN}"
    addresses_become(client, f"published.{domain}", {ready.ip, unready.ip})
    addresses_become(client, f"unpublished.{domain}", {ready.ip})
