"""`lbctl demo`: the main job end to end on the embedded default.

Starts real Kubernetes, runs the controller with the local provider, creates
a sample LoadBalancer Service and shows what it got. Everything it started
is stopped again unless `--keep` is given.
"""

from __future__ import annotations

import sys
import threading
import time

from kubernetes import client, config

from lbctl.cluster.controlplane import ControlPlane
from lbctl.controller.service_controller import ControllerSettings, ServiceController
from lbctl.desired import ClassPolicy
from lbctl.ipam import parse_pools
from lbctl.kube.gateway import KubeGateway
from lbctl.providers.local import LocalProvider
from lbctl.settings import DEFAULT_CLASS, DEFAULT_POOL


def _say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def run_demo(*, keep: bool = False) -> int:
    started = time.monotonic()
    _say("starting etcd, kube-apiserver and kube-controller-manager (built on first use)")
    with ControlPlane() as cp:
        _say(f"control plane ready in {time.monotonic() - started:.1f}s at {cp.url}")
        api = config.new_client_from_config(config_file=str(cp.kubeconfig))
        controller = ServiceController(
            KubeGateway(api),
            LocalProvider(parse_pools([DEFAULT_POOL])),
            ControllerSettings(policy=ClassPolicy(DEFAULT_CLASS, default_class=True)),
        ).start()
        try:
            _say(f"lbctl controller running (provider local, pool {DEFAULT_POOL})")
            core = client.CoreV1Api(api)
            core.create_namespaced_service(
                "default",
                client.V1Service(
                    metadata=client.V1ObjectMeta(name="hello"),
                    spec=client.V1ServiceSpec(
                        type="LoadBalancer",
                        selector={"app": "hello"},
                        ports=[client.V1ServicePort(port=80, target_port=8080)],
                    ),
                ),
            )
            _say("created Service default/hello (type LoadBalancer)")
            ip = _wait_ingress(core, "default", "hello", timeout=30)
            svc = core.read_namespaced_service("hello", "default")
            _say(
                f"default/hello got ingress {ip} "
                f"(port 80 -> nodePort {svc.spec.ports[0].node_port}) "
                f"in {time.monotonic() - started:.1f}s from start"
            )
            if keep:
                _say(f"kubeconfig: {cp.kubeconfig}; press Ctrl-C to stop")
                threading.Event().wait()
        finally:
            controller.stop()
            api.close()
    _say("stopped everything")
    return 0


def _wait_ingress(core: client.CoreV1Api, namespace: str, name: str, *, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        svc = core.read_namespaced_service(name, namespace)
        ingress = svc.status.load_balancer and svc.status.load_balancer.ingress
        if ingress:
            return str(ingress[0].ip)
        time.sleep(0.2)
    print(f"demo: {namespace}/{name} got no ingress within {timeout:.0f}s", file=sys.stderr)
    raise SystemExit(1)
