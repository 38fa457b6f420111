"""ExternalName Services (EN-1)."""

from __future__ import annotations

import pytest

from conformance import manifests as m
from conformance.kube import Namespace
from conformance.probes import PodProbe
from conformance.topology import CLUSTER_DOMAIN, Topology
from conformance.waiting import wait_until

NAME = "ext"
#: names under .invalid (RFC 2606) never resolve anywhere: only the CNAME matters
FIRST = "first.example.invalid"
SECOND = "second.example.invalid"


def cname_becomes(client: PodProbe, fqdn: str, target: str) -> None:
    wait_until(
        f"{fqdn} to be a CNAME to {target}",
        lambda: target in client.nslookup(fqdn).cnames,
        timeout=90,
        interval=2,
    )


@pytest.mark.conformance("EN-1")
def test_external_name(ns: Namespace, topology: Topology, client: PodProbe) -> None:
    """A CNAME to the external name that follows renames; as ClusterIP an A record.

    Switching back to ExternalName clears the ClusterIP.
    """
    topology.need_dns()
    fqdn = f"{NAME}.{ns.name}.svc.{CLUSTER_DOMAIN}"
    ns.create(m.service(NAME, ports=[], type_="ExternalName", externalName=FIRST))
    assert not ns.service(NAME).cluster_ip
    cname_becomes(client, fqdn, FIRST)
    ns.patch_service(NAME, {"spec": {"externalName": SECOND}})
    cname_becomes(client, fqdn, SECOND)
    svc = ns.patch_service(
        NAME,
        {
            "spec": {
                "type": "ClusterIP",
                "externalName": None,
                "ports": [m.service_port(80)],
                "selector": m.app_selector("nothing"),
            }
        },
    )
    cip = svc.cluster_ip
    assert cip and cip != "None"
    wait_until(
        f"{fqdn} to be an A record of {cip}",
        lambda: client.nslookup(fqdn).addresses == (cip,),
        timeout=90,
        interval=2,
    )
    back = ns.patch_service(NAME, {"spec": {"type": "ExternalName", "externalName": FIRST}})
    assert not back.cluster_ip, f"clusterIP {back.cluster_ip} kept after switching back"
    assert not ns.raw_service(NAME).spec.cluster_ips
    cname_becomes(client, fqdn, FIRST)
