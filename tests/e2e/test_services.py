"""Real pods, real kube-proxy, real traffic on the local multi-node cluster.

One namespace for the module holds a 3-replica agnhost netexec Deployment
(spread over the workers), a ClusterIP and a NodePort Service in front of it,
and one netexec "client" pod pinned to each node. Probes from inside the
cluster use netexec's /dial (the way upstream e2e tests probe); probes from
the root namespace (the bridge lbk0) go straight to node and pod IPs.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client

from localcluster.cluster import LocalCluster
from localcluster.kubelet import CONTROL_PLANE_TAINT
from localcluster.versions import AGNHOST_IMAGE
from tests.kubehelpers import create_namespace, wait_for

pytestmark = pytest.mark.e2e

APP = {"app": "web"}


def _netexec(name: str, labels: dict[str, str]) -> client.V1PodSpec:
    del name
    return client.V1PodSpec(
        containers=[
            client.V1Container(
                name="netexec",
                image=AGNHOST_IMAGE,
                image_pull_policy="IfNotPresent",
                args=["netexec", "--http-port=8080", "--udp-port=8081"],
                ports=[client.V1ContainerPort(container_port=8080)],
                readiness_probe=client.V1Probe(
                    http_get=client.V1HTTPGetAction(path="/healthz", port=8080),
                    period_seconds=1,
                ),
            )
        ],
        termination_grace_period_seconds=1,
        tolerations=[client.V1Toleration(key=CONTROL_PLANE_TAINT, effect="NoSchedule")]
        if "client" in labels.get("role", "")
        else None,
    )


def http_get(url: str, *, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def dial(client_ip: str, host: str, port: int, *, tries: int = 1) -> dict[str, list[str]]:
    """Ask the netexec pod at `client_ip` to fetch /hostname from host:port."""
    query = urllib.parse.urlencode(
        {"request": "hostname", "protocol": "http", "host": host, "port": port, "tries": tries}
    )
    result: dict[str, list[str]] = json.loads(
        http_get(f"http://{client_ip}:8080/dial?{query}", timeout=10 + tries)
    )
    return result


@dataclass
class Web:
    namespace: str
    cluster_ip: str
    node_port: int
    clients: dict[str, str]  # node name -> client pod IP


def _running_pods(core: client.CoreV1Api, namespace: str, selector: str) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    return [
        p
        for p in pods
        if p.status.phase == "Running"
        and p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]


@pytest.fixture(scope="module")
def web(local_cluster: LocalCluster, cluster_api: client.ApiClient) -> Iterator[Web]:
    core = client.CoreV1Api(cluster_api)
    apps = client.AppsV1Api(cluster_api)
    namespace = f"e2e-web-{uuid.uuid4().hex[:6]}"
    create_namespace(cluster_api, namespace)
    spec = _netexec("web", APP)
    spec.topology_spread_constraints = [
        client.V1TopologySpreadConstraint(
            max_skew=1,
            topology_key="kubernetes.io/hostname",
            when_unsatisfiable="DoNotSchedule",
            node_taints_policy="Honor",
            label_selector=client.V1LabelSelector(match_labels=APP),
        )
    ]
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=3,
                selector=client.V1LabelSelector(match_labels=APP),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=APP), spec=spec
                ),
            ),
        ),
    )
    ports = [client.V1ServicePort(port=80, target_port=8080)]
    cluster_ip = core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(selector=APP, ports=ports),
        ),
    ).spec.cluster_ip
    node_port = (
        core.create_namespaced_service(
            namespace,
            client.V1Service(
                metadata=client.V1ObjectMeta(name="web-np"),
                spec=client.V1ServiceSpec(type="NodePort", selector=APP, ports=ports),
            ),
        )
        .spec.ports[0]
        .node_port
    )
    for spec_ in local_cluster.specs:
        pod_spec = _netexec("client", {"role": "client"})
        pod_spec.node_name = spec_.name
        core.create_namespaced_pod(
            namespace,
            client.V1Pod(
                metadata=client.V1ObjectMeta(
                    name=f"client-{spec_.name}", labels={"role": "client"}
                ),
                spec=pod_spec,
            ),
        )
    wait_for(
        "3 web pods Running",
        lambda: len(_running_pods(core, namespace, "app=web")) == 3,
        timeout=90,
    )
    clients = wait_for(
        "a client pod Running on every node",
        lambda: (
            {
                p.spec.node_name: p.status.pod_ip
                for p in _running_pods(core, namespace, "role=client")
            }
            if len(_running_pods(core, namespace, "role=client")) == len(local_cluster.specs)
            else None
        ),
        timeout=90,
    )
    yield Web(namespace, cluster_ip, node_port, clients)
    core.delete_namespace(namespace)


def test_deployment_runs_on_both_workers(
    web: Web, cluster_api: client.ApiClient, local_cluster: LocalCluster
) -> None:
    pods = _running_pods(client.CoreV1Api(cluster_api), web.namespace, "app=web")
    workers = {s.name for s in local_cluster.specs if not s.control_plane}
    assert len(pods) == 3
    assert {p.spec.node_name for p in pods} == workers


def test_cluster_ip_answers_from_a_pod_on_each_node(
    web: Web, cluster_api: client.ApiClient
) -> None:
    backends = {
        p.metadata.name
        for p in _running_pods(client.CoreV1Api(cluster_api), web.namespace, "app=web")
    }
    for node, client_ip in web.clients.items():
        result = dial(client_ip, web.cluster_ip, 80, tries=10)
        assert result["responses"], f"no answer from {web.cluster_ip} on {node}: {result}"
        assert set(result["responses"]) <= backends, (node, result)


def test_node_port_answers_from_root_namespace_on_every_node(
    web: Web, local_cluster: LocalCluster, cluster_api: client.ApiClient
) -> None:
    backends = {
        p.metadata.name
        for p in _running_pods(client.CoreV1Api(cluster_api), web.namespace, "app=web")
    }
    for spec in local_cluster.specs:
        answer = http_get(f"http://{spec.address}:{web.node_port}/hostname")
        assert answer in backends, (spec.name, answer)


def test_dns_resolves_the_service_name(web: Web) -> None:
    name = f"web.{web.namespace}.svc.cluster.local"
    for node, client_ip in web.clients.items():
        result = dial(client_ip, name, 80, tries=3)
        assert result["responses"], f"{name} did not resolve or answer on {node}: {result}"
    query = urllib.parse.urlencode({"cmd": f"nslookup {name}"})
    any_client = next(iter(web.clients.values()))
    output = json.loads(http_get(f"http://{any_client}:8080/shell?{query}"))["output"]
    assert web.cluster_ip in output, output


def test_pods_on_different_nodes_reach_each_other(web: Web, cluster_api: client.ApiClient) -> None:
    pods = _running_pods(client.CoreV1Api(cluster_api), web.namespace, "app=web")
    for pod in pods:
        others = {n: ip for n, ip in web.clients.items() if n != pod.spec.node_name}
        for node, client_ip in others.items():
            result = dial(client_ip, pod.status.pod_ip, 8080)
            assert result["responses"] == [pod.metadata.name], (node, pod.metadata.name, result)


def test_deleted_pod_is_replaced_and_the_service_follows(
    web: Web, cluster_api: client.ApiClient
) -> None:
    core = client.CoreV1Api(cluster_api)
    victim = _running_pods(core, web.namespace, "app=web")[0]
    core.delete_namespaced_pod(victim.metadata.name, web.namespace, grace_period_seconds=0)

    def replaced() -> list[client.V1Pod] | None:
        pods = _running_pods(core, web.namespace, "app=web")
        names = {p.metadata.name for p in pods}
        return pods if len(pods) == 3 and victim.metadata.name not in names else None

    pods = wait_for("a replacement web pod", replaced, timeout=60)
    new = next(
        p
        for p in pods
        if p.status.pod_ip != victim.status.pod_ip
        and p.metadata.creation_timestamp > victim.metadata.creation_timestamp
    )
    assert new.status.pod_ip != victim.status.pod_ip
    current = {p.metadata.name for p in pods}
    client_ip = next(iter(web.clients.values()))

    def service_follows() -> set[str] | None:
        seen = set(dial(client_ip, web.cluster_ip, 80, tries=15)["responses"])
        return seen if new.metadata.name in seen and seen <= current else None

    deadline = time.monotonic() + 30
    seen: set[str] | None = None
    while time.monotonic() < deadline and not seen:
        seen = service_follows()
    assert seen, f"the Service never answered from the new pod {new.metadata.name}"
    assert victim.metadata.name not in seen


def test_each_kubelet_binds_its_device_plugin_socket_in_its_own_directory(
    local_cluster: LocalCluster,
) -> None:
    """The kubelet hard-codes /var/lib/kubelet/device-plugins (not under --root-dir).

    Shared, the kubelets starting together race to empty it and bind
    kubelet.sock there, and the loser exits; each node shadows it instead.
    """
    sockets = {}
    for node in local_cluster.nodes:
        probe = node.exec(["stat", "-c", "%i", "/var/lib/kubelet/device-plugins/kubelet.sock"])
        assert probe.returncode == 0, f"{node.spec.name}: {probe.stderr}"
        sockets[node.spec.name] = probe.stdout.strip()
    assert len(set(sockets.values())) == len(local_cluster.nodes), sockets
