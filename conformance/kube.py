"""The suite's only door to the Kubernetes API.

Guarantees:
- API objects are translated into the small frozen types below at this
  boundary (`PodInfo`, `NodeInfo`, `ServiceInfo`); tests read fields, not
  client models; `Any` stays here;
- a `Namespace` creates what tests ask for inside one namespace, and every
  wait it offers is bounded;
- exec gets its own ApiClient per call (the client's websocket exec swaps
  the ApiClient's request method and is not safe to share).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from conformance.manifests import Manifest
from conformance.waiting import wait_until

NOT_SCHEDULABLE_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class NodeInfo:
    name: str
    internal_ip: str | None
    ready: bool
    schedulable: bool
    labels: Mapping[str, str]


@dataclass(frozen=True)
class PodInfo:
    name: str
    ip: str | None
    node: str | None
    ready: bool
    phase: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    type: str
    cluster_ip: str | None
    ports: tuple[Mapping[str, Any], ...]
    ingress: tuple[str, ...]
    ip_modes: tuple[str, ...]
    finalizers: tuple[str, ...]
    health_check_node_port: int | None

    def node_port(self, index: int = 0) -> int:
        port = self.ports[index].get("node_port")
        assert port, f"Service {self.name} port {index} has no nodePort"
        return int(port)


def _ready(conditions: Any, kind: str = "Ready") -> bool:
    return any(c.type == kind and c.status == "True" for c in conditions or [])


def node_info(node: Any) -> NodeInfo:
    addresses = node.status.addresses or []
    internal = next((a.address for a in addresses if a.type == "InternalIP"), None)
    taints = node.spec.taints or []
    schedulable = not node.spec.unschedulable and not any(
        t.effect in NOT_SCHEDULABLE_EFFECTS for t in taints
    )
    return NodeInfo(
        name=node.metadata.name,
        internal_ip=internal,
        ready=_ready(node.status.conditions),
        schedulable=schedulable,
        labels=dict(node.metadata.labels or {}),
    )


def pod_info(pod: Any) -> PodInfo:
    return PodInfo(
        name=pod.metadata.name,
        ip=pod.status.pod_ip,
        node=pod.spec.node_name,
        ready=_ready(pod.status.conditions),
        phase=pod.status.phase or "",
        labels=dict(pod.metadata.labels or {}),
    )


def service_info(svc: Any) -> ServiceInfo:
    lb = svc.status.load_balancer
    ingress = (lb.ingress if lb else None) or []
    return ServiceInfo(
        name=svc.metadata.name,
        type=svc.spec.type,
        cluster_ip=svc.spec.cluster_ip,
        ports=tuple(p.to_dict() for p in svc.spec.ports or []),
        ingress=tuple(i.ip or i.hostname for i in ingress),
        ip_modes=tuple(getattr(i, "ip_mode", None) or "" for i in ingress),
        finalizers=tuple(svc.metadata.finalizers or ()),
        health_check_node_port=svc.spec.health_check_node_port,
    )


def close_api(api: Any) -> None:
    """Close an ApiClient and its connection pool (close() alone leaves sockets open)."""
    api.close()
    api.rest_client.pool_manager.clear()


class Kube:
    """An API session on one cluster."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.api: Any = config.new_client_from_config(config_file=str(kubeconfig))
        self.core: Any = client.CoreV1Api(self.api)
        self.apps: Any = client.AppsV1Api(self.api)
        self.discovery: Any = client.DiscoveryV1Api(self.api)

    def close(self) -> None:
        close_api(self.api)

    def exec_api(self) -> Any:
        """A fresh CoreV1Api on its own ApiClient, for one websocket exec."""
        return client.CoreV1Api(client.ApiClient(self.api.configuration))

    def nodes(self) -> list[NodeInfo]:
        return [node_info(n) for n in self.core.list_node().items]

    def node(self, name: str) -> NodeInfo:
        return node_info(self.core.read_node(name))

    def has_service(self, namespace: str, name: str) -> bool:
        try:
            self.core.read_namespaced_service(name, namespace)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    # -- What the report header discovers; None or [] where the suite may not look
    def config_map_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """The data of one ConfigMap (None: absent, or not readable by the suite)."""
        try:
            cm = self.core.read_namespaced_config_map(name, namespace)
        except ApiException as err:
            if err.status in (403, 404):
                return None
            raise
        return dict(cm.data or {})

    def config_maps(self, label_selector: str) -> list[tuple[str, dict[str, str]]]:
        """(namespace, data) of every ConfigMap matching, in any namespace."""
        try:
            items = self.core.list_config_map_for_all_namespaces(
                label_selector=label_selector
            ).items
        except ApiException as err:
            if err.status == 403:
                return []
            raise
        return [(cm.metadata.namespace, dict(cm.data or {})) for cm in items]

    def deployment_replicas(self, namespace: str, label_selector: str) -> list[tuple[int, int]]:
        """(ready, desired) replicas of each Deployment matching in `namespace`."""
        try:
            items = self.apps.list_namespaced_deployment(
                namespace, label_selector=label_selector
            ).items
        except ApiException as err:
            if err.status == 403:
                return []
            raise
        return [(d.status.ready_replicas or 0, d.spec.replicas or 0) for d in items]

    def pod_commands(self, namespace: str, label_selector: str) -> list[list[str]]:
        """command + args of the first container of each pod matching in `namespace`."""
        try:
            items = self.core.list_namespaced_pod(namespace, label_selector=label_selector).items
        except ApiException as err:
            if err.status == 403:
                return []
            raise
        return [
            [*(p.spec.containers[0].command or []), *(p.spec.containers[0].args or [])]
            for p in items
            if p.spec.containers
        ]

    def new_namespace(self, prefix: str) -> Namespace:
        """Create a fresh namespace and wait for its default ServiceAccount."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.core.create_namespace(
            {"metadata": {"name": name, "labels": {"lbctl-conformance": "1"}}}
        )
        ns = Namespace(self, name)

        def has_sa() -> bool:
            try:
                self.core.read_namespaced_service_account("default", name)
            except ApiException as err:
                if err.status == 404:
                    return False
                raise
            return True

        wait_until(f"ServiceAccount {name}/default", has_sa, timeout=60)
        return ns


class Namespace:
    """Objects of one test namespace."""

    def __init__(self, kube: Kube, name: str) -> None:
        self.kube = kube
        self.name = name

    def delete(self) -> None:
        try:
            self.kube.core.delete_namespace(self.name)
        except ApiException as err:
            if err.status != 404:
                raise

    def create(self, body: Manifest) -> None:
        kind = body["kind"]
        k = self.kube
        creators = {
            "Pod": k.core.create_namespaced_pod,
            "Service": k.core.create_namespaced_service,
            "Endpoints": k.core.create_namespaced_endpoints,
            "Deployment": k.apps.create_namespaced_deployment,
            "StatefulSet": k.apps.create_namespaced_stateful_set,
            "EndpointSlice": k.discovery.create_namespaced_endpoint_slice,
        }
        creators[kind](self.name, body)

    # -- Services ---------------------------------------------------------
    def service(self, name: str) -> ServiceInfo:
        return service_info(self.kube.core.read_namespaced_service(name, self.name))

    def raw_service(self, name: str) -> Any:
        return self.kube.core.read_namespaced_service(name, self.name)

    def patch_service(self, name: str, patch: Mapping[str, Any]) -> ServiceInfo:
        """JSON merge patch (null deletes a field)."""
        svc = self.kube.core.patch_namespaced_service(
            name, self.name, dict(patch), _content_type="application/merge-patch+json"
        )
        return service_info(svc)

    def delete_service(self, name: str) -> None:
        self.kube.core.delete_namespaced_service(name, self.name)

    def wait_service_gone(self, name: str, *, timeout: float) -> None:
        wait_until(
            f"Service {self.name}/{name} to be gone",
            lambda: not self.kube.has_service(self.name, name),
            timeout=timeout,
        )

    # -- Pods -------------------------------------------------------------
    def pods(self, selector: Mapping[str, str]) -> list[PodInfo]:
        label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
        items = self.kube.core.list_namespaced_pod(self.name, label_selector=label_selector).items
        return [pod_info(p) for p in items if p.metadata.deletion_timestamp is None]

    def pod(self, name: str) -> PodInfo:
        return pod_info(self.kube.core.read_namespaced_pod(name, self.name))

    def find_pod(self, name: str) -> PodInfo | None:
        """The pod, or None while it does not exist (yet)."""
        try:
            return self.pod(name)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def wait_ready(
        self, selector: Mapping[str, str], count: int, *, timeout: float = 120
    ) -> list[PodInfo]:
        """Wait until exactly `count` pods match and are ready; return them by name."""

        def ready() -> list[PodInfo] | None:
            pods = self.pods(selector)
            if len(pods) == count and all(p.ready and p.ip for p in pods):
                return sorted(pods, key=lambda p: p.name)
            return None

        return wait_until(
            f"{count} ready pods {dict(selector)} in {self.name}", ready, timeout=timeout
        )

    def wait_pod_ready(self, name: str, *, timeout: float = 120) -> PodInfo:
        def ready() -> PodInfo | None:
            info = self.find_pod(name)
            return info if info and info.ready and info.ip else None

        return wait_until(f"pod {self.name}/{name} ready", ready, timeout=timeout)

    def wait_pod_running(self, name: str, *, timeout: float = 120) -> PodInfo:
        def running() -> PodInfo | None:
            info = self.find_pod(name)
            return info if info and info.phase == "Running" and info.ip else None

        return wait_until(f"pod {self.name}/{name} running", running, timeout=timeout)

    def delete_pod(self, name: str) -> None:
        self.kube.core.delete_namespaced_pod(name, self.name, grace_period_seconds=0)

    def scale(self, kind: str, name: str, replicas: int) -> None:
        patch = {"spec": {"replicas": replicas}}
        if kind == "Deployment":
            self.kube.apps.patch_namespaced_deployment_scale(name, self.name, patch)
        else:
            self.kube.apps.patch_namespaced_stateful_set_scale(name, self.name, patch)

    # -- Endpoints and events -----------------------------------------------
    def endpoint_addresses(self, service: str) -> dict[str, bool]:
        """Address -> ready, over every EndpointSlice of `service`."""
        slices = self.kube.discovery.list_namespaced_endpoint_slice(
            self.name, label_selector=f"kubernetes.io/service-name={service}"
        ).items
        out: dict[str, bool] = {}
        for s in slices:
            for ep in s.endpoints or []:
                ready = ep.conditions is None or ep.conditions.ready is not False
                for address in ep.addresses:
                    out[address] = ready
        return out

    def wait_ready_endpoints(self, service: str, ips: set[str], *, timeout: float = 60) -> None:
        """Wait until the ready endpoint addresses of `service` are exactly `ips`."""

        def exact() -> bool:
            got = {a for a, ready in self.endpoint_addresses(service).items() if ready}
            return got == ips

        wait_until(f"ready endpoints of {service} == {sorted(ips)}", exact, timeout=timeout)

    def events(self, kind: str, name: str) -> list[tuple[str, str, str]]:
        """(type, reason, message) of the events about one object."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        items = self.kube.core.list_namespaced_event(self.name, field_selector=selector).items
        return [(e.type or "", e.reason or "", e.message or "") for e in items]
