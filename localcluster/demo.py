"""`localcluster demo`: the main job end to end on the embedded default.

Brings up the local multi-node cluster with lbctl (local provider) and
nodeproxy running in it from their images (deploy/overlays/local), deploys a
sample Deployment behind a LoadBalancer Service, and sends HTTP requests to
the Service's ingress IP from the outside world: the client network one
routed hop away from the nodes (outside.py). Everything it started is
stopped again unless `--keep` is given.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
import time
import urllib.request
from collections import Counter

from kubernetes import client

from localcluster import incluster, outside
from localcluster.cluster import LocalCluster
from localcluster.netns import LB_POOL
from localcluster.versions import AGNHOST_IMAGE

NAMESPACE = "default"
NAME = "hello"
REQUESTS = 20
#: the only addresses the demo may send traffic to (DESIGN.md address plan)
LOCAL_RANGE = ipaddress.ip_network("198.18.0.0/15")


def _say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def run_demo(*, keep: bool = False) -> int:
    started = time.monotonic()
    _say(
        "bringing up the local cluster with lbctl and nodeproxy in-cluster "
        "(the first run builds Kubernetes and the images; later runs reuse them)"
    )
    cluster = LocalCluster(workers=2)
    cluster.up()
    try:
        _say(f"cluster ready in {time.monotonic() - started:.0f}s; kubeconfig {cluster.kubeconfig}")
        _say(
            f"lbctl (Deployment, local provider, pool {LB_POOL}) and nodeproxy "
            f"(DaemonSet on {len(cluster.nodes)} nodes) run in namespace {incluster.NAMESPACE}"
        )
        api = cluster.api_client()
        try:
            ip = _deploy(api)
            _say(f"{NAMESPACE}/{NAME} got ingress {ip}")
            with outside.entered():
                answers = _requests(ip)
            _say(
                f"{REQUESTS} requests from {outside.CLIENT_ADDRESS} (the client network, "
                f"one routed hop away) to http://{ip}/hostname, answered by: "
                + ", ".join(f"{pod} x{count}" for pod, count in sorted(answers.items()))
            )
            _say(f"done in {time.monotonic() - started:.0f}s")
            if keep:
                _say(f"kubeconfig: {cluster.kubeconfig}; press Ctrl-C to stop")
                threading.Event().wait()
        finally:
            api.close()
    finally:
        cluster.down()
        _say("stopped everything")
    return 0


def _deploy(api: client.ApiClient) -> str:
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    labels = {"app": NAME}
    apps.create_namespaced_deployment(
        NAMESPACE,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name=NAME),
            spec=client.V1DeploymentSpec(
                replicas=3,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[
                            client.V1Container(
                                name="netexec",
                                image=AGNHOST_IMAGE,
                                image_pull_policy="IfNotPresent",
                                args=["netexec", "--http-port=8080"],
                                ports=[client.V1ContainerPort(container_port=8080)],
                            )
                        ]
                    ),
                ),
            ),
        ),
    )
    core.create_namespaced_service(
        NAMESPACE,
        client.V1Service(
            metadata=client.V1ObjectMeta(name=NAME),
            spec=client.V1ServiceSpec(
                type="LoadBalancer",
                selector=labels,
                ports=[client.V1ServicePort(port=80, target_port=8080)],
            ),
        ),
    )
    _say(f"created Deployment and LoadBalancer Service {NAMESPACE}/{NAME}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        svc = core.read_namespaced_service(NAME, NAMESPACE)
        ingress = svc.status.load_balancer and svc.status.load_balancer.ingress
        ready = apps.read_namespaced_deployment(NAME, NAMESPACE).status.ready_replicas or 0
        if ingress and ready == 3:
            return str(ingress[0].ip)
        time.sleep(0.5)
    raise SystemExit("demo: the Service got no ingress (or pods not ready) within 120s")


def _requests(ip: str) -> Counter[str]:
    if ipaddress.ip_address(ip) not in LOCAL_RANGE:
        raise SystemExit(f"demo: refusing to send traffic to {ip}: outside {LOCAL_RANGE}")
    answers: Counter[str] = Counter()
    deadline = time.monotonic() + 60
    while sum(answers.values()) < REQUESTS:
        try:
            with urllib.request.urlopen(f"http://{ip}/hostname", timeout=2) as response:
                answers[response.read().decode().strip()] += 1
        except OSError as err:
            if time.monotonic() > deadline:
                print(f"demo: request to {ip} failed: {err}", file=sys.stderr)
                raise SystemExit(1) from err
            time.sleep(0.5)
    return answers
