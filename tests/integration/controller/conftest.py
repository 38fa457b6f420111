"""Fixtures for running the service controller against the real apiserver.

Each test gets its own load-balancer class, so several controllers can share
one apiserver (one per pytest-xdist worker) without ever touching each
other's Services.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client

from lbcommon.clock import Clock
from lbcommon.desired import ClassPolicy
from lbcommon.errors import ProviderError, TemporaryError
from lbcommon.model import Change, Ingress, LoadBalancer, OwnedResource, ServiceKey
from lbcommon.pools import parse_pools
from lbctl.controller.service_controller import ControllerSettings, ServiceController
from lbctl.kube.gateway import KubeGateway
from lbctl.providers.local import LocalProvider
from tests.kubehelpers import wait_for

POOL = "198.18.0.200-198.18.0.250"


@dataclass
class RecordingProvider:
    """A LocalProvider that records every call; fails on demand."""

    inner: LocalProvider
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail_ensure: set[ServiceKey] = field(default_factory=set)
    fail_permanently: set[ServiceKey] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return "recording"

    def _record(self, method: str, arg: Any) -> None:
        with self.lock:
            self.calls.append((method, arg))

    def calls_of(self, method: str) -> list[Any]:
        with self.lock:
            return [arg for name, arg in self.calls if name == method]

    def restore(self, published: Mapping[ServiceKey, tuple[Ingress, ...]]) -> list[ServiceKey]:
        self._record("restore", dict(published))
        return self.inner.restore(published)

    def ensure(self, lb: LoadBalancer) -> tuple[Ingress, ...]:
        self._record("ensure", lb)
        if lb.key in self.fail_ensure:
            raise TemporaryError("injected failure")
        if lb.key in self.fail_permanently:
            raise ProviderError("injected permanent failure")
        return self.inner.ensure(lb)

    def update_backends(self, lbs: Sequence[LoadBalancer]) -> Mapping[ServiceKey, Exception]:
        self._record("update_backends", list(lbs))
        return self.inner.update_backends(lbs)

    def delete(self, key: ServiceKey, uid: str) -> None:
        self._record("delete", (key, uid))
        self.inner.delete(key, uid)

    def plan(self, lb: LoadBalancer) -> list[Change]:
        return self.inner.plan(lb)

    def plan_delete(self, key: ServiceKey, uid: str) -> list[Change]:
        return self.inner.plan_delete(key, uid)

    def list_owned(self) -> list[OwnedResource]:
        return self.inner.list_owned()

    def delete_owned(self, resource: OwnedResource) -> None:
        self.inner.delete_owned(resource)


@dataclass
class ControllerHarness:
    """Starts controllers for one test's load-balancer class; stops them all."""

    api: client.ApiClient
    lb_class: str
    started: list[ServiceController] = field(default_factory=list)

    def start(
        self,
        *,
        pools: Sequence[str] = (POOL,),
        workers: int = 4,
        provider: Any = None,
        default_class: bool = False,
        gateway: KubeGateway | None = None,
        backoff: tuple[float, float] = (0.2, 2.0),
        clock: Clock | None = None,
    ) -> ServiceController:
        """A started controller; `backoff` is (base, cap), production's is (5, 300)."""
        provider = provider or RecordingProvider(LocalProvider(parse_pools(pools)))
        controller = ServiceController(
            gateway or KubeGateway(self.api),
            provider,
            ControllerSettings(
                policy=ClassPolicy(self.lb_class, default_class=default_class),
                workers=workers,
                backoff_base=backoff[0],
                backoff_cap=backoff[1],
                node_settle=0.05,
            ),
            clock=clock,
        )
        controller.start()
        self.started.append(controller)
        return controller

    def stop(self, controller: ServiceController) -> None:
        controller.stop()
        self.started.remove(controller)

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()


@pytest.fixture
def harness(kube: client.ApiClient) -> Iterator[ControllerHarness]:
    h = ControllerHarness(kube, f"test.lbctl.io/{uuid.uuid4().hex[:8]}")
    try:
        yield h
    finally:
        h.stop_all()


def lb_service(
    name: str,
    lb_class: str | None,
    *,
    ports: Sequence[tuple[int, str]] = ((80, "TCP"),),
    load_balancer_ip: str | None = None,
    source_ranges: Sequence[str] | None = None,
    annotations: dict[str, str] | None = None,
    policy: str | None = None,
    allocate_node_ports: bool | None = None,
) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, annotations=annotations),
        spec=client.V1ServiceSpec(
            type="LoadBalancer",
            load_balancer_class=lb_class,
            load_balancer_ip=load_balancer_ip,
            load_balancer_source_ranges=list(source_ranges) if source_ranges else None,
            external_traffic_policy=policy,
            allocate_load_balancer_node_ports=allocate_node_ports,
            selector={"app": name},
            ports=[
                client.V1ServicePort(name=f"p{i}", port=port, protocol=proto, target_port=8080)
                for i, (port, proto) in enumerate(ports)
            ],
        ),
    )


def ingress_ip(api: client.ApiClient, namespace: str, name: str) -> str | None:
    svc = client.CoreV1Api(api).read_namespaced_service(name, namespace)
    ingress = (svc.status.load_balancer and svc.status.load_balancer.ingress) or []
    return ingress[0].ip if ingress else None


def wait_ingress(api: client.ApiClient, namespace: str, name: str, timeout: float = 20) -> str:
    return wait_for(
        f"ingress of {namespace}/{name}",
        lambda: ingress_ip(api, namespace, name),
        timeout=timeout,
    )


def events(api: client.ApiClient, namespace: str, name: str) -> list[client.CoreV1Event]:
    selector = f"involvedObject.name={name},involvedObject.kind=Service"
    items: list[client.CoreV1Event] = (
        client.CoreV1Api(api).list_namespaced_event(namespace, field_selector=selector).items
    )
    return items


def wait_event(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    reason: str,
    contains: str = "",
    timeout: float = 20,
) -> client.CoreV1Event:
    def find() -> client.CoreV1Event | None:
        for event in events(api, namespace, name):
            if event.reason == reason and contains in (event.message or ""):
                return event
        return None

    return wait_for(f"event {reason} on {namespace}/{name}", find, timeout=timeout)


Probe = Callable[[], Any]
