"""NodePort Services (NP-1 .. NP-5), probed from the test runner outside the cluster."""

from __future__ import annotations

import random
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from conformance import backends
from conformance import manifests as m
from conformance.kube import Kube, Namespace, NodeInfo, PodInfo
from conformance.loadbalancers import LoadBalancers
from conformance.outside import Outside
from conformance.probes import PodProbe, ip_of
from conformance.topology import Topology
from conformance.waiting import wait_until
from conformance.walk import load_balancer_nodes, walk

APP = "np"


def node_port_service(
    name: str = APP,
    selector: dict[str, str] | None = None,
    ports: list[m.Manifest] | None = None,
    **spec: Any,
) -> m.Manifest:
    return m.service(
        name,
        type_="NodePort",
        ports=ports or [m.service_port(80)],
        selector=selector or m.app_selector(APP),
        **spec,
    )


def answers_from(outside: Outside, node: NodeInfo, port: int, want: str | None = None) -> str:
    """Wait until `node` answers on `port` (with `want`, if given)."""
    assert node.internal_ip
    address = node.internal_ip
    return wait_until(
        f"{node.name} to answer on {port}" + (f" with {want}" if want else ""),
        lambda: a if (a := outside.http(address, port)) and (want is None or a == want) else None,
        timeout=60,
    )


def refuses(outside: Outside, node: NodeInfo, port: int) -> None:
    """`node` gives no answer on `port` (dropped or refused), checked twice."""
    assert node.internal_ip
    for _ in range(2):
        assert outside.http(node.internal_ip, port, timeout=2) is None, (
            f"{node.name} answered on {port}"
        )


@pytest.mark.conformance("NP-1")
def test_node_port_on_every_node(
    ns: Namespace, topology: Topology, outside: Outside, client: PodProbe
) -> None:
    """Every node's InternalIP answers on the node port from outside; the ClusterIP still works."""
    pods = backends.deployment(ns, APP, 2)
    ns.create(node_port_service())
    svc = ns.service(APP)
    port = svc.node_port()
    for node in topology.nodes:
        assert answers_from(outside, node, port) in backends.names(pods)
    assert svc.cluster_ip
    assert client.http(svc.cluster_ip, 80) in backends.names(pods)


def _used_node_ports(kube: Kube) -> set[int]:
    services = kube.core.list_service_for_all_namespaces().items
    return {p.node_port for s in services for p in s.spec.ports or [] if p.node_port}


def _rejected(ns: Namespace, body: m.Manifest) -> str:
    try:
        ns.create(body)
    except ApiException as err:
        assert err.status == 422, f"expected 422 Invalid, got {err.status}"
        return str(err.body)
    raise AssertionError(f"{body['metadata']['name']} was accepted")


@pytest.mark.conformance("NP-2")
def test_explicit_duplicate_out_of_range_and_released_node_ports(
    ns: Namespace, topology: Topology, outside: Outside
) -> None:
    """An explicit nodePort is honoured, a duplicate or out-of-range one is rejected,
    and a deleted Service's port can be taken again."""
    [pod] = backends.deployment(ns, APP, 1)
    used = _used_node_ports(ns.kube)
    free = [p for p in range(31000, 32700) if p not in used]
    port = random.choice(free)
    ports = [m.service_port(80, node_port=port)]
    ns.create(node_port_service("first", ports=ports))
    assert ns.service("first").node_port() == port
    assert answers_from(outside, topology.nodes[0], port) == pod.name
    assert "already allocated" in _rejected(ns, node_port_service("dup", ports=ports))
    bad = [m.service_port(80, node_port=1)]
    assert "range" in _rejected(ns, node_port_service("outside", ports=bad))
    ns.delete_service("first")
    ns.wait_service_gone("first", timeout=60)
    ns.create(node_port_service("again", ports=ports))
    assert ns.service("again").node_port() == port
    assert answers_from(outside, topology.nodes[0], port) == pod.name


@pytest.mark.conformance("NP-3")
def test_external_traffic_policy_local(ns: Namespace, topology: Topology, outside: Outside) -> None:
    """Local: only the endpoint's node answers, with the client's own source IP; Cluster: all."""
    with_pod, without = topology.need_workers(2)[:2]
    [pod] = backends.pinned(ns, APP, [with_pod.name])
    ns.create(node_port_service(externalTrafficPolicy="Local"))
    port = ns.service(APP).node_port()
    assert with_pod.internal_ip
    runner = outside.source_address(with_pod.internal_ip)
    answers_from(outside, with_pod, port, pod.name)
    seen = ip_of(outside.http(with_pod.internal_ip, port, "/clientip"))
    assert seen == runner, f"the pod saw {seen}, the client is {runner}"
    refuses(outside, without, port)
    ns.patch_service(APP, {"spec": {"externalTrafficPolicy": "Cluster"}})
    for node in topology.nodes:
        answers_from(outside, node, port, pod.name)


@pytest.mark.conformance("NP-4")
def test_per_pod_node_ports(ns: Namespace, topology: Topology, outside: Outside) -> None:
    """One Local NodePort Service per StatefulSet pod reaches exactly that pod via its node;
    a Service for a missing pod refuses; scaling up makes it work."""
    topology.need_workers(2)
    ns.create(
        m.service(APP, ports=[m.service_port(80)], selector=m.app_selector(APP), clusterIP="None")
    )
    ns.create(m.statefulset(APP, APP, replicas=2, service_name=APP, spec=backends.spread_spec(APP)))
    for index in range(3):
        ns.create(
            node_port_service(
                f"{APP}-{index}",
                selector={"statefulset.kubernetes.io/pod-name": f"{APP}-{index}"},
                externalTrafficPolicy="Local",
            )
        )
    ports = {i: ns.service(f"{APP}-{i}").node_port() for i in range(3)}
    assert len(set(ports.values())) == 3, f"node ports are not distinct: {ports}"
    pods = ns.wait_ready(m.app_selector(APP), 2, timeout=backends.POD_READY_TIMEOUT)
    for pod in pods:
        _only_via_its_node(outside, topology, pod.name, pod.node, ports[int(pod.name[-1])])
    for node in topology.nodes:
        refuses(outside, node, ports[2])
    ns.scale("StatefulSet", APP, 3)
    pod = ns.wait_pod_ready(f"{APP}-2", timeout=backends.POD_READY_TIMEOUT)
    _only_via_its_node(outside, topology, pod.name, pod.node, ports[2])


def _only_via_its_node(
    outside: Outside, topology: Topology, pod: str, node: str | None, port: int
) -> None:
    home = next(n for n in topology.nodes if n.name == node)
    answers_from(outside, home, port, pod)
    for other in topology.nodes:
        if other.name != node:
            refuses(outside, other, port)


def _health(outside: Outside, node: NodeInfo, port: int) -> int | None:
    assert node.internal_ip
    got = outside.http_status(node.internal_ip, port, "/healthz")
    return got[0] if got else None


@pytest.mark.conformance("NP-5")
def test_health_check_node_port_follows_pods(
    ns: Namespace, topology: Topology, outside: Outside, lbs: LoadBalancers
) -> None:
    """healthCheckNodePort answers 200 where the local endpoint runs and 503 elsewhere,
    and follows a single pod moved across every node in turn."""
    nodes = load_balancer_nodes(topology.nodes)
    if len(nodes) < 2:
        pytest.skip(f"needs 2 nodes a load balancer may use; the cluster has {len(nodes)}")
    body = m.service(
        APP,
        ports=[m.service_port(80)],
        selector=m.app_selector(APP),
        type_="LoadBalancer",
        externalTrafficPolicy="Local",
    )
    lbs.create(body)
    port = ns.service(APP).health_check_node_port
    assert port, "a LoadBalancer with Local policy got no healthCheckNodePort"

    def step(node: NodeInfo, pod: PodInfo) -> None:
        del pod
        wanted = {n.name: 200 if n.name == node.name else 503 for n in nodes}
        last: dict[str, int | None] = {}

        def statuses() -> bool:
            last.update({n.name: _health(outside, n, port) for n in nodes})
            return last == wanted

        try:
            wait_until(f"200 on {node.name} only", statuses, timeout=30)
        except AssertionError:
            raise AssertionError(
                f"with the only endpoint on {node.name}, /healthz on :{port} answered "
                f"{last} (wanted {wanted})"
            ) from None

    walk(ns, APP, nodes, step)
