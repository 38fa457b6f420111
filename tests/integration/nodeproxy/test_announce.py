"""Two real `nodeproxy` processes against the real apiserver: announcement and failover.

Each process runs in the root namespace (where the apiserver is) and keeps its
data plane in its own "node" namespace (`--netns`). The test kills the owner
together with its node (link down) and measures how long the client goes
without answers; then it checks a clean stop hands over and cleans up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from kubernetes import client

from lbcommon.model import KUBE_PROXY_HEALTH_PORT
from localcluster.controlplane import ControlPlane
from nodeproxy.announce import owners
from tests.netns import Host, Topology, leftover_namespaces
from tests.netns.servers import NodeServer, tcp_ask

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NODEPROXY = str(Path(__file__).resolve().parents[3] / ".venv" / "bin" / "nodeproxy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proxy:
    name: str
    host: Host
    proc: subprocess.Popen[bytes]
    metrics_port: int
    log: Path

    def holds(self, ip: IPv4Address) -> bool:
        out = self.host.run("ip", "-j", "-4", "addr", "show", "dev", "eth0", check=False)
        return any(
            a.get("local") == str(ip) for link in json.loads(out or "[]") for a in link["addr_info"]
        )

    def probe(self, path: str) -> bool:
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def ready(self) -> bool:
        """/readyz (and /healthz, its alias): our Lease is fresh and the caches synced."""
        return self.probe("/readyz") and self.probe("/healthz")

    def live_instances(self) -> float | None:
        try:
            text = self.metrics()
        except OSError:
            return None
        found = re.search(r"^nodeproxy_live_instances (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else None

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())


@dataclass
class Cluster:
    topo: Topology
    client: Host
    proxies: dict[str, Proxy]
    lb_ip: IPv4Address


def wait(what: str, probe: object, timeout: float = 20.0) -> float:
    assert callable(probe)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if probe():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def create_node(core: client.CoreV1Api, name: str, host: Host) -> str:
    """A Node object for `host`, with its address as the InternalIP."""
    core.create_node(
        client.V1Node(
            metadata=client.V1ObjectMeta(name=name),
            status=client.V1NodeStatus(
                addresses=[client.V1NodeAddress(type="InternalIP", address=str(host.ip))]
            ),
        )
    )
    return name


@pytest.fixture
def cluster(
    control_plane: ControlPlane, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    core = client.CoreV1Api(kube)
    topo = Topology()
    servers: list[NodeServer] = []
    node_names: list[str] = []
    with topo:
        try:
            the_client = topo.add_host("client", 10)
            lb_ip = topo.address(200)
            for i, role in enumerate(("node-a", "node-b")):
                host = topo.add_host(role, 30 + i)
                topo.emulate_kube_proxy(host, lb_ip)
                servers.append(
                    NodeServer(role, host.ns, tcp_ports=(80,), health_port=KUBE_PROXY_HEALTH_PORT)
                )
                node_names.append(create_node(core, f"{topo.prefix}-{role}", host))
            core.create_namespaced_service(
                namespace,
                client.V1Service(
                    metadata=client.V1ObjectMeta(name="web"),
                    spec=client.V1ServiceSpec(
                        type="LoadBalancer",
                        load_balancer_class="lbctl.io/test",
                        ports=[client.V1ServicePort(port=80, protocol="TCP")],
                    ),
                ),
            )
            core.patch_namespaced_service_status(
                "web", namespace, {"status": {"loadBalancer": {"ingress": [{"ip": str(lb_ip)}]}}}
            )
            proxies: dict[str, Proxy] = {}
            for i, role in enumerate(("proxy-1", "proxy-2")):
                host = topo.add_host(role, 20 + i)
                # Only nodes the load balancer uses announce: the proxies'
                # hosts are Nodes too (backends that fail the health check).
                node_names.append(create_node(core, f"{topo.prefix}-{role}", host))
                port = free_port()
                log = tmp_path / f"{role}.log"
                argv = [
                    NODEPROXY,
                    f"--kubeconfig={control_plane.kubeconfig}",
                    "--interface=eth0",
                    f"--node-name={topo.prefix}-{role}",
                    f"--netns={host.ns}",
                    f"--pool={topo.address(200)}-{topo.address(250)}",
                    f"--lease-namespace={namespace}",
                    f"--metrics-addr=127.0.0.1:{port}",
                ]
                with log.open("wb") as out:
                    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
                topo.processes.append(proc)
                proxies[role] = Proxy(f"{topo.prefix}-{role}", host, proc, port, log)
            yield Cluster(topo, the_client, proxies, lb_ip)
        finally:
            for proc in topo.processes:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in topo.processes:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for server in servers:
                server.close()
            for name in node_names:
                core.delete_node(name)
    assert not leftover_namespaces(topo.prefix)


def owner(cluster: Cluster) -> Proxy | None:
    holders = [p for p in cluster.proxies.values() if p.holds(cluster.lb_ip)]
    assert len(holders) <= 1, "two instances announce one IP"
    return holders[0] if holders else None


def answered(cluster: Cluster) -> bool:
    answer = tcp_ask(cluster.client.ns, cluster.lb_ip, 80, timeout=0.5)
    return bool(answer and answer.split()[1].startswith(f"{cluster.client.ip}:"))


def settled(cluster: Cluster) -> Proxy:
    """Both instances ready and seeing each other, and the rendezvous winner forwarding."""
    proxies = list(cluster.proxies.values())
    wait("both instances ready", lambda: all(p.ready() and p.probe("/livez") for p in proxies), 30)
    wait("each to see the other", lambda: all(p.live_instances() == 2 for p in proxies), 30)
    winner = owners([cluster.lb_ip], {p.name for p in proxies})[cluster.lb_ip]
    expected = next(p for p in proxies if p.name == winner)
    wait("the winner to forward", lambda: owner(cluster) is expected and answered(cluster), 30)
    return expected


def test_one_owner_and_failover_within_5s(cluster: Cluster) -> None:
    first = settled(cluster)
    # Both stay: the same one keeps announcing, checked throughout two seconds.
    steady_until = time.monotonic() + 2.0
    while time.monotonic() < steady_until:
        assert owner(cluster) is first
        time.sleep(0.1)
    metrics = first.metrics()
    assert "nodeproxy_owned_addresses 1.0" in metrics
    assert "nodeproxy_listener_connections_total" in metrics

    # The owner dies with its node: process killed, link down.
    first.proc.kill()
    first.proc.wait(timeout=10)
    first.host.run("ip", "link", "set", "eth0", "down")
    took = wait("the survivor to forward", lambda: answered(cluster), timeout=15)
    survivor = next(p for p in cluster.proxies.values() if p is not first)
    assert survivor.holds(cluster.lb_ip)
    print(f"failover after the owner died: {took:.2f}s")
    assert took < 5.0, f"failover took {took:.1f}s"


def test_clean_stop_hands_over_and_cleans_up(cluster: Cluster) -> None:
    first = settled(cluster)
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(timeout=15) == 0
    assert not first.holds(cluster.lb_ip)
    tables = first.host.run("nft", "list", "tables")
    assert "lbctl_nodeproxy" not in tables
    took = wait("the other to forward", lambda: answered(cluster), timeout=15)
    print(f"handover after a clean stop: {took:.2f}s")
    assert took < 5.0
