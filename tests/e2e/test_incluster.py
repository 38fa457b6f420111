"""lbctl and nodeproxy as users run them: in-cluster, from their images.

The session's local cluster deploys both with deploy/overlays/local (the
lbctl Deployment with two leader-elected replicas, the nodeproxy DaemonSet).
These tests disturb that deployment the way operators do (delete the leader,
roll the Deployment, delete the announcing nodeproxy pod) and check that
load balancing carries on within the documented bounds, with traffic from
the root namespace (the "outside world" on the node bridge).
"""

from __future__ import annotations

import ipaddress
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client

from localcluster import incluster, outside
from localcluster.cluster import LocalCluster
from localcluster.versions import AGNHOST_IMAGE
from tests.kubehelpers import create_namespace, wait_for

pytestmark = pytest.mark.e2e

NS = incluster.NAMESPACE
APP = {"app": "lb-web"}
#: DESIGN.md: a standby takes over within 15 s of the leader's death
LEADER_TAKEOVER_BOUND = 15.0
#: issue 10 asks 5 s for the nodeproxy figure (bench prints it); the test is generous
NODEPROXY_FAILOVER_BOUND = 15.0
#: how long after deleting the announcing nodeproxy pod the test watches traffic
WATCH_AFTER_DELETE = 40.0


@dataclass
class App:
    namespace: str
    core: client.CoreV1Api
    apps: client.AppsV1Api

    def load_balancer(self, name: str) -> str:
        """Create a LoadBalancer Service for the app; return its ingress IP."""
        self.create_load_balancer(name)
        return self.ingress(name, timeout=60)

    def create_load_balancer(self, name: str) -> None:
        self.core.create_namespaced_service(
            self.namespace,
            client.V1Service(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1ServiceSpec(
                    type="LoadBalancer",
                    selector=APP,
                    ports=[client.V1ServicePort(port=80, target_port=8080)],
                ),
            ),
        )

    def ingress(self, name: str, *, timeout: float) -> str:
        def ip() -> str | None:
            status = self.core.read_namespaced_service(name, self.namespace).status
            ingress = status.load_balancer.ingress if status.load_balancer else None
            return str(ingress[0].ip) if ingress else None

        return wait_for(f"an ingress IP for {self.namespace}/{name}", ip, timeout=timeout)


def answers(ip: str, *, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{ip}/hostname", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def app(local_cluster: LocalCluster, cluster_api: client.ApiClient) -> Iterator[App]:
    del local_cluster
    namespace = f"e2e-lb-{uuid.uuid4().hex[:6]}"
    create_namespace(cluster_api, namespace)
    core, apps = client.CoreV1Api(cluster_api), client.AppsV1Api(cluster_api)
    container = client.V1Container(
        name="netexec",
        image=AGNHOST_IMAGE,
        image_pull_policy="IfNotPresent",
        args=["netexec", "--http-port=8080"],
        readiness_probe=client.V1Probe(
            http_get=client.V1HTTPGetAction(path="/healthz", port=8080), period_seconds=1
        ),
    )
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=APP),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=APP),
                    spec=client.V1PodSpec(
                        containers=[container], termination_grace_period_seconds=1
                    ),
                ),
            ),
        ),
    )
    wait_for(
        "2 web pods ready",
        lambda: (apps.read_namespaced_deployment("web", namespace).status.ready_replicas or 0) == 2,
        timeout=90,
    )
    yield App(namespace, core, apps)
    core.delete_namespace(namespace)


def _leader(coordination: client.CoordinationV1Api) -> str:
    lease = coordination.read_namespaced_lease(incluster.LEADER_LEASE, NS)
    return str(lease.spec.holder_identity or "")


def test_both_programs_run_in_cluster_from_their_images(
    local_cluster: LocalCluster, cluster_api: client.ApiClient
) -> None:
    """Nothing on the host: lbctl is a 2-replica Deployment, nodeproxy a DaemonSet on every node."""
    apps, core = client.AppsV1Api(cluster_api), client.CoreV1Api(cluster_api)
    deployment = apps.read_namespaced_deployment(incluster.CONTROLLER, NS)
    daemonset = apps.read_namespaced_daemon_set(incluster.DATA_PLANE, NS)
    nodes = len(core.list_node().items)
    assert deployment.status.available_replicas == 2
    assert daemonset.status.number_ready == nodes
    images = {
        c.image
        for workload in (deployment, daemonset)
        for c in workload.spec.template.spec.containers
    }
    assert images == {"lbctl.local/lbctl:0.1.0", "lbctl.local/nodeproxy:0.1.0"}
    leader = _leader(client.CoordinationV1Api(cluster_api))
    replicas = core.list_namespaced_pod(
        NS, label_selector=f"app.kubernetes.io/name={incluster.CONTROLLER}"
    ).items
    assert leader in {p.metadata.name for p in replicas}, f"leader {leader!r} is not a pod"
    # Host mode would run the programs with this cluster's admin kubeconfig.
    kubeconfig = str(local_cluster.kubeconfig)
    found = subprocess.run(
        ["pgrep", "-af", kubeconfig], check=False, capture_output=True, text=True
    )
    assert not [
        line for line in found.stdout.splitlines() if "lbctl" in line or "nodeproxy" in line
    ]


def test_deleted_leader_is_replaced_within_bound(app: App, cluster_api: client.ApiClient) -> None:
    """The standby takes over within 15 s, and a Service created meanwhile gets its ingress."""
    coordination = client.CoordinationV1Api(cluster_api)
    leader = _leader(coordination)
    assert leader, "no lbctl replica holds the leader Lease"
    started = time.monotonic()
    app.core.delete_namespaced_pod(leader, NS)
    name = f"during-{uuid.uuid4().hex[:4]}"
    app.create_load_balancer(name)

    def new_leader() -> str | None:
        holder = _leader(coordination)
        return holder if holder and holder != leader else None

    successor = wait_for(
        "another replica holding the Lease",
        new_leader,
        timeout=LEADER_TAKEOVER_BOUND + 5,
        interval=0.2,
    )
    took_over = time.monotonic() - started
    ip = app.ingress(name, timeout=LEADER_TAKEOVER_BOUND + 10)
    print(f"leader {leader} -> {successor} in {took_over:.1f}s; {name} got {ip}")
    assert took_over <= LEADER_TAKEOVER_BOUND
    wait_for(f"{ip} answering", lambda: answers(ip), timeout=30)


def test_rollout_restart_changes_no_ingress(app: App, cluster_api: client.ApiClient) -> None:
    """Across `kubectl rollout restart` no Service's ingress changes and no Service is written."""
    app.load_balancer("steady")
    services = {
        s.metadata.name: s
        for s in app.core.list_namespaced_service(app.namespace).items
        if s.spec.type == "LoadBalancer"
    }
    before = {
        name: (s.metadata.resource_version, [i.ip for i in s.status.load_balancer.ingress or []])
        for name, s in services.items()
    }
    apps = client.AppsV1Api(cluster_api)
    coordination = client.CoordinationV1Api(cluster_api)
    old_pods = {
        p.metadata.name
        for p in app.core.list_namespaced_pod(
            NS, label_selector=f"app.kubernetes.io/name={incluster.CONTROLLER}"
        ).items
    }
    restarted = {"kubectl.kubernetes.io/restartedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
    apps.patch_namespaced_deployment(
        incluster.CONTROLLER,
        NS,
        {"spec": {"template": {"metadata": {"annotations": restarted}}}},
    )

    def rolled() -> bool:
        d = apps.read_namespaced_deployment(incluster.CONTROLLER, NS)
        s = d.status
        done = (
            s.observed_generation == d.metadata.generation
            and s.updated_replicas == d.spec.replicas
            and s.available_replicas == d.spec.replicas
            and (s.replicas or 0) == d.spec.replicas
        )
        return bool(done) and _leader(coordination) not in old_pods | {""}

    wait_for("lbctl rolled, a new replica leading", rolled, timeout=180, interval=0.5)
    time.sleep(5)  # let the new leader finish its first pass over every Service
    after = {
        name: (s.metadata.resource_version, [i.ip for i in s.status.load_balancer.ingress or []])
        for name, s in ((n, app.core.read_namespaced_service(n, app.namespace)) for n in services)
    }
    assert after == before


def _announcer(local_cluster: LocalCluster, ip: str) -> str:
    """The node whose eth0 holds `ip` (nodeproxy's announcement)."""
    for node in local_cluster.nodes:
        out = node.exec(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
        if f" {ip}/" in out:
            return node.spec.name
    raise AssertionError(f"no node announces {ip}")


def test_deleted_announcing_nodeproxy_fails_over(
    app: App, local_cluster: LocalCluster, cluster_api: client.ApiClient
) -> None:
    """Deleting the nodeproxy pod that announces an IP: requests succeed again within bound."""
    ip = app.load_balancer("failover")
    wait_for(f"{ip} answering", lambda: answers(ip), timeout=30)
    node = _announcer(local_cluster, ip)
    [pod] = [
        p
        for p in app.core.list_namespaced_pod(
            NS, label_selector=f"app.kubernetes.io/name={incluster.DATA_PLANE}"
        ).items
        if p.spec.node_name == node
    ]
    started = time.monotonic()
    app.core.delete_namespaced_pod(pod.metadata.name, NS)
    # The outage runs from the first failed request to the next good one; a
    # hand-over that loses no request is an outage of 0 s.
    outage_started: float | None = None
    outage = 0.0
    while time.monotonic() - started < WATCH_AFTER_DELETE:
        ok = answers(ip, timeout=0.5)
        now = time.monotonic()
        if not ok and outage_started is None:
            outage_started = now
        elif ok and outage_started is not None:
            outage = now - outage_started
            break
        time.sleep(0.05)
    else:
        if outage_started is not None:
            pytest.fail(f"{ip} did not answer again within {WATCH_AFTER_DELETE:.0f}s")
    print(f"nodeproxy on {node} deleted; requests to {ip} failed for {outage:.1f}s")
    assert outage <= NODEPROXY_FAILOVER_BOUND
    wait_for(f"{ip} answering", lambda: answers(ip), timeout=30)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["nc", "-v", "-z", "-w", "3", "198.18.16.10", "53"], id="nc-v"),
        pytest.param(
            ["curl", "-sS", "--max-time", "5", "http://web-probe:8080/hostname"], id="curl"
        ),
        pytest.param(["wget", "-q", "-O", "-", "http://web-probe:8080/hostname"], id="wget"),
        pytest.param(["ping", "-c", "1", "-W", "2", "198.18.0.1"], id="ping"),
        pytest.param(["dig", "+short", "kubernetes.default.svc.cluster.local"], id="dig"),
        pytest.param(["nslookup", "kubernetes.default"], id="nslookup"),
        pytest.param(
            ["bash", "-c", "ip -o addr show eth0 && socat -V >/dev/null"], id="bash-ip-socat"
        ),
    ],
)
def test_agnhost_carries_upstream_tools(
    argv: list[str], app: App, agnhost_pod: str, local_cluster: LocalCluster
) -> None:
    """Tools written for any cluster exec these in agnhost pods, as in upstream's image."""
    tool = incluster.kubectl(local_cluster.kubeconfig)
    out = tool.run("exec", f"--namespace={app.namespace}", agnhost_pod, "--", *argv, timeout=30)
    if argv[0] == "dig":
        assert out.strip() == "198.18.16.1"
    if argv[0] in ("curl", "wget"):
        assert out.strip().startswith("web-")


@pytest.fixture(scope="module")
def agnhost_pod(app: App) -> str:
    """An agnhost pod (upstream's image, rebuilt) plus a ClusterIP Service to probe."""
    app.core.create_namespaced_service(
        app.namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web-probe"),
            spec=client.V1ServiceSpec(
                selector=APP, ports=[client.V1ServicePort(port=8080, target_port=8080)]
            ),
        ),
    )
    name = "tools"
    app.core.create_namespaced_pod(
        app.namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(
                containers=[
                    client.V1Container(
                        name="agnhost",
                        image=AGNHOST_IMAGE,
                        image_pull_policy="IfNotPresent",
                        args=["pause"],
                    )
                ],
                termination_grace_period_seconds=1,
            ),
        ),
    )
    wait_for(
        "the agnhost tools pod running",
        lambda: app.core.read_namespaced_pod(name, app.namespace).status.phase == "Running",
        timeout=60,
    )
    return name


def test_clients_from_the_outside_network_cross_a_routed_hop(
    app: App, local_cluster: LocalCluster
) -> None:
    """The outside world is really outside (issue 11): the client network shares no
    /16 with the nodes, nodes reach it only through the router, and a request from
    it reaches a pod with the client's own address."""
    client_net = ipaddress.ip_network(outside.NETWORK)
    for node in local_cluster.nodes:
        node_16 = ipaddress.ip_network(f"{node.spec.address}/16", strict=False)
        assert not client_net.overlaps(node_16), f"{client_net} shares a /16 with {node.spec.name}"
        route = node.exec(["ip", "-4", "route", "get", outside.CLIENT_ADDRESS]).stdout
        assert f"via {outside.ROUTER_ON_BRIDGE}" in route, f"{node.spec.name}: {route}"
    app.core.create_namespaced_service(
        app.namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="outside"),
            spec=client.V1ServiceSpec(
                type="LoadBalancer",
                external_traffic_policy="Local",  # no SNAT on the way: the pod sees the client
                selector=APP,
                ports=[client.V1ServicePort(port=80, target_port=8080)],
            ),
        ),
    )
    ip = app.ingress("outside", timeout=60)
    with outside.entered():
        seen = wait_for("an answer from the client network", lambda: clientip(ip), timeout=30)
    assert seen.rsplit(":", 1)[0] == outside.CLIENT_ADDRESS


def clientip(ip: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{ip}/clientip", timeout=1.0) as response:
            return str(response.read().decode().strip())
    except OSError:
        return None
