"""Benchmark: how long a load-balancer IP stops answering when its nodeproxy goes.

On the local cluster with lbctl and nodeproxy in-cluster (deploy/overlays/local),
a 3-replica netexec Deployment behind a LoadBalancer Service; a client in the
root namespace sends a request every 20 ms to the ingress IP. Two ways to
lose the nodeproxy that announces it, each `--runs` times:

- delete: the pod is deleted (SIGTERM): nodeproxy releases its Lease and the
  address, and another instance claims it at once;
- kill: the agent is killed (SIGKILL, as a crash or OOM): the others wait for
  its Lease to go stale (lease_duration 3 s, plus one tick) and take over.

Printed per way: the outage (first failed request to the next good one),
median and max, against the 5 s the design promises for a dead instance.

    .venv/bin/python bench/incluster_failover.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

from kubernetes import client

from localcluster import incluster, outside
from localcluster.cluster import LocalCluster
from localcluster.versions import AGNHOST_IMAGE

RESULTS = Path(__file__).parent / "results"
NAMESPACE = "bench-failover"
PROMISE_SECONDS = 5.0
INTERVAL = 0.02
WATCH = 30.0


def _answers(ip: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{ip}/hostname", timeout=0.2) as response:
            return response.status == 200
    except OSError:
        return False


def _deploy(api: client.ApiClient) -> str:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    labels = {"app": "web"}
    container = client.V1Container(
        name="netexec",
        image=AGNHOST_IMAGE,
        image_pull_policy="IfNotPresent",
        args=["netexec", "--http-port=8080"],
    )
    deadline = time.monotonic() + 60
    while True:  # the namespace's default ServiceAccount arrives shortly after it
        try:
            apps.create_namespaced_deployment(
                NAMESPACE,
                client.V1Deployment(
                    metadata=client.V1ObjectMeta(name="web"),
                    spec=client.V1DeploymentSpec(
                        replicas=3,
                        selector=client.V1LabelSelector(match_labels=labels),
                        template=client.V1PodTemplateSpec(
                            metadata=client.V1ObjectMeta(labels=labels),
                            spec=client.V1PodSpec(containers=[container]),
                        ),
                    ),
                ),
            )
            break
        except client.ApiException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    core.create_namespaced_service(
        NAMESPACE,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(
                type="LoadBalancer",
                selector=labels,
                ports=[client.V1ServicePort(port=80, target_port=8080)],
            ),
        ),
    )
    while time.monotonic() < deadline + 60:
        ingress = core.read_namespaced_service("web", NAMESPACE).status.load_balancer.ingress
        if ingress and _answers(ingress[0].ip):
            return str(ingress[0].ip)
        time.sleep(0.5)
    raise SystemExit("bench: the Service never answered through its ingress")


def _announcer(cluster: LocalCluster, ip: str) -> str:
    while True:
        for node in cluster.nodes:
            if f" {ip}/" in node.exec(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout:
                return node.spec.name
        time.sleep(0.1)


def _nodeproxy_pod(core: client.CoreV1Api, node: str) -> client.V1Pod:
    selector = f"app.kubernetes.io/name={incluster.DATA_PLANE}"
    while True:
        pods = [
            p
            for p in core.list_namespaced_pod(incluster.NAMESPACE, label_selector=selector).items
            if p.spec.node_name == node
            and p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        if pods:
            return pods[0]
        time.sleep(0.2)


def _kill_agent(node: str) -> None:
    """SIGKILL the nodeproxy process whose pod runs on `node` (hostNetwork: its netns)."""
    found = subprocess.run(
        ["pgrep", "-f", "bin/nodeproxy"], capture_output=True, text=True, check=False
    )
    for pid in found.stdout.split():
        netns = subprocess.run(
            ["ip", "netns", "identify", pid], capture_output=True, text=True, check=False
        ).stdout.strip()
        if netns == node:
            os.kill(int(pid), signal.SIGKILL)
            return
    raise SystemExit(f"bench: no nodeproxy process in {node}'s network namespace")


def _disrupt(way: str, core: client.CoreV1Api, node: str) -> None:
    if way == "delete":
        pod = _nodeproxy_pod(core, node)
        core.delete_namespaced_pod(pod.metadata.name, incluster.NAMESPACE)
    else:
        _kill_agent(node)


def _outage(ip: str) -> float:
    """Seconds from the first failed request to the next good one (0: none failed)."""
    started = time.monotonic()
    failed_at: float | None = None
    while time.monotonic() - started < WATCH:
        ok = _answers(ip)
        now = time.monotonic()
        if not ok and failed_at is None:
            failed_at = now
        elif ok and failed_at is not None:
            return now - failed_at
        time.sleep(INTERVAL)
    if failed_at is not None:
        raise SystemExit(f"bench: {ip} did not answer again within {WATCH:.0f}s")
    return 0.0


def _settle(cluster: LocalCluster, core: client.CoreV1Api) -> None:
    """Until every node runs a ready nodeproxy again."""
    for node in cluster.nodes:
        _nodeproxy_pod(core, node.spec.name)
    time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cluster = LocalCluster(workers=2)
    cluster.up()
    figures: dict[str, list[float]] = {"delete": [], "kill": []}
    try:
        api = cluster.api_client()
        core = client.CoreV1Api(api)
        ip = _deploy(api)
        for _ in range(args.runs):
            for way in ("delete", "kill"):
                node = _announcer(cluster, ip)
                _disrupt(way, core, node)
                with outside.entered():  # the client is one routed hop away
                    seconds = _outage(ip)
                figures[way].append(round(seconds, 2))
                print(f"{way:<7} nodeproxy on {node}: outage {seconds:.2f}s", flush=True)
                _settle(cluster, core)
        api.close()
    finally:
        cluster.down()
    print(
        f"\n{'way':<8} {'median s':>9} {'max s':>7}  (promise: dead instance <= {PROMISE_SECONDS}s)"
    )
    for way, values in figures.items():
        print(f"{way:<8} {statistics.median(values):>9.2f} {max(values):>7.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "incluster_failover.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
