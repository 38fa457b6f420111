"""Service externalIPs (EIP-1)."""

from __future__ import annotations

import ipaddress

import pytest
from kubernetes.client.rest import ApiException

from conformance import backends
from conformance import manifests as m
from conformance.cluster import ClusterHandle
from conformance.kube import Namespace
from conformance.outside import Outside
from conformance.topology import Topology
from conformance.waiting import wait_until

PORT = 18080
#: an address no node owns: on the local cluster inside its own range, elsewhere
#: TEST-NET-1 (RFC 5737), which no network routes
UNOWNED_LOCAL = "198.18.0.99"
UNOWNED_ELSEWHERE = "192.0.2.99"
BENCHMARKING = ipaddress.ip_network("198.18.0.0/15")


def _benchmarking(cluster: ClusterHandle, topology: Topology) -> bool:
    """Whether the nodes live in 198.18.0.0/15 (our local cluster, whichever way the
    suite reached it): there the unowned address must come from that range too,
    since nothing else may be a destination (and the nodes have no route to
    TEST-NET-1 for kube-proxy's output rules to catch)."""
    ips = [ipaddress.ip_address(n.internal_ip) for n in topology.nodes if n.internal_ip]
    return cluster.guard.frozen or (bool(ips) and all(ip in BENCHMARKING for ip in ips))


@pytest.mark.conformance("EIP-1")
def test_external_ips(
    ns: Namespace, topology: Topology, outside: Outside, cluster: ClusterHandle
) -> None:
    """externalIP:port reaching a node goes to the pods; only the listed addresses answer.

    A node's own address listed as externalIP answers from outside on the port,
    another node's does not; an unowned externalIP is served for traffic that
    reaches a node (sent from a host-network pod there).
    """
    first, second = topology.need_workers(2)[:2]
    assert first.internal_ip and second.internal_ip
    unowned = UNOWNED_LOCAL if _benchmarking(cluster, topology) else UNOWNED_ELSEWHERE
    [pod] = backends.deployment(ns, "eip", 1)
    body = m.service(
        "eip",
        ports=[m.service_port(PORT, target=80)],
        selector=m.app_selector("eip"),
        externalIPs=[first.internal_ip, unowned],
    )
    try:
        ns.create(body)
    except ApiException as err:
        if err.status in (403, 422):
            pytest.skip(f"the cluster does not allow externalIPs: {err.reason}")
        raise
    assert (
        wait_until(
            "the external IP to answer",
            lambda: outside.http(first.internal_ip or "", PORT),
            timeout=60,
        )
        == pod.name
    )
    assert not outside.tcp(second.internal_ip, PORT, timeout=2).ok, (
        f"{second.name} answered on {PORT} though it is not an externalIP"
    )
    host = backends.client(ns, "on-node", node=second.name, host_network=True)
    assert (
        wait_until(
            f"{unowned}:{PORT} to answer from {second.name}",
            lambda: host.http(unowned, PORT),
            timeout=60,
        )
        == pod.name
    )
