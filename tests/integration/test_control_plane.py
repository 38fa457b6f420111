"""The control-plane harness runs real Kubernetes: Service allocation and endpoints."""

from __future__ import annotations

import ipaddress

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from localcluster.controlplane import ControlPlane
from tests.kubehelpers import wait_for

pytestmark = pytest.mark.integration

SERVICE_CIDR = ipaddress.ip_network("198.18.16.0/20")


def _service(
    name: str,
    *,
    type_: str = "NodePort",
    node_port: int | None = None,
    policy: str | None = None,
    selector: dict[str, str] | None = None,
) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1ServiceSpec(
            type=type_,
            selector=selector or {"app": name},
            external_traffic_policy=policy,
            ports=[client.V1ServicePort(port=80, target_port=8080, node_port=node_port)],
        ),
    )


def test_service_gets_cluster_ip_and_node_port(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    svc = core.create_namespaced_service(namespace, _service("web"))
    assert ipaddress.ip_address(svc.spec.cluster_ip) in SERVICE_CIDR
    assert 30000 <= svc.spec.ports[0].node_port <= 32767


def test_duplicate_node_port_is_rejected(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    first = core.create_namespaced_service(namespace, _service("first"))
    taken = first.spec.ports[0].node_port
    with pytest.raises(ApiException) as rejected:
        core.create_namespaced_service(namespace, _service("second", node_port=taken))
    assert rejected.value.status == 422
    assert "already allocated" in rejected.value.body


def test_local_load_balancer_gets_health_check_node_port(
    kube: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube)
    local = core.create_namespaced_service(
        namespace, _service("lb-local", type_="LoadBalancer", policy="Local")
    )
    cluster = core.create_namespaced_service(
        namespace, _service("lb-cluster", type_="LoadBalancer", policy="Cluster")
    )
    assert 30000 <= local.spec.health_check_node_port <= 32767
    assert local.spec.health_check_node_port != local.spec.ports[0].node_port
    assert cluster.spec.health_check_node_port is None


def _ready_pod(core: client.CoreV1Api, namespace: str, name: str, node: str, ip: str) -> None:
    """Create a pod bound to `node` and report it Ready, as its kubelet would."""
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels={"app": "backend"}),
            spec=client.V1PodSpec(
                node_name=node,
                containers=[
                    client.V1Container(
                        name="app",
                        image="registry.k8s.io/e2e-test-images/agnhost:2.66.1",
                        ports=[client.V1ContainerPort(container_port=8080)],
                    )
                ],
            ),
        ),
    )
    status = {
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    }
    core.patch_namespaced_pod_status(name, namespace, status)


def test_ready_pods_appear_in_endpoint_slice(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    discovery = client.DiscoveryV1Api(kube)
    node = f"node-{namespace}"
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=node)))
    try:
        core.create_namespaced_service(namespace, _service("backend", selector={"app": "backend"}))
        _ready_pod(core, namespace, "pod-a", node, "198.19.1.10")
        _ready_pod(core, namespace, "pod-b", node, "198.19.1.11")

        def ready_addresses() -> set[str] | None:
            slices = discovery.list_namespaced_endpoint_slice(
                namespace, label_selector="kubernetes.io/service-name=backend"
            ).items
            found = {
                address
                for piece in slices
                for endpoint in piece.endpoints or []
                if endpoint.conditions.ready
                for address in endpoint.addresses
            }
            return found if found == {"198.19.1.10", "198.19.1.11"} else None

        wait_for("both ready pods in the EndpointSlice", ready_addresses)
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=backend"
        ).items
        ports = {(p.port, p.protocol) for s in slices for p in s.ports or []}
        assert ports == {(8080, "TCP")}
        assert {e.node_name for s in slices for e in s.endpoints} == {node}
    finally:
        core.delete_node(node)


def test_harness_instances_do_not_collide(control_plane: ControlPlane) -> None:
    """A second control plane in the same process gets its own address and state."""
    with ControlPlane() as second:
        assert second.address != control_plane.address
        assert second.workdir != control_plane.workdir
        pids = [p.pid for p in second.processes]
        assert len(pids) == 3
    assert second.processes == []
    assert not second.workdir.exists()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            _signal_zero(pid)


def _signal_zero(pid: int) -> None:
    import os

    os.kill(pid, 0)
