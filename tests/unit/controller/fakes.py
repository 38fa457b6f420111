"""Recording fakes of what the controller depends on: the cluster gateway and a provider."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lbcommon.clock import FakeClock
from lbcommon.desired import ClassPolicy
from lbcommon.errors import LbctlError, StatusCondition
from lbcommon.model import (
    CLEANUP_FINALIZER,
    OWNER_ANNOTATION,
    Change,
    Ingress,
    LoadBalancer,
    NodeInfo,
    OwnedResource,
    Protocol,
    ServiceKey,
    ServicePort,
    ServiceSpec,
)
from lbctl.controller.events import EventRecorder
from lbctl.controller.ports import ObjectRef
from lbctl.controller.reconcile import Reconciler
from lbctl.metrics import Metrics

CLASS = "test.lbctl.io/unit"


def spec(name: str, *, deleting: bool = False, claimed: bool = True) -> ServiceSpec:
    return ServiceSpec(
        namespace="ns",
        name=name,
        uid=f"uid-{name}",
        type="LoadBalancer",
        load_balancer_class=CLASS,
        ports=(ServicePort(name="http", protocol=Protocol.TCP, port=80, node_port=30080),),
        annotations=((OWNER_ANNOTATION, CLASS),) if claimed else (),
        finalizers=(CLEANUP_FINALIZER,) if claimed else (),
        deleting=deleting,
    )


@dataclass
class FakeCluster:
    """The ServiceWriter and EventWriter, recording; `fail` makes every write raise."""

    writes: list[tuple[str, ServiceKey]] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    fail: LbctlError | None = None

    def _write(self, what: str, key: ServiceKey) -> None:
        if self.fail is not None:
            raise self.fail
        self.writes.append((what, key))

    def claim(self, key: ServiceKey, *, finalizer: str, annotation: tuple[str, str]) -> None:
        self._write("claim", key)

    def release(self, key: ServiceKey, *, finalizer: str, annotation: str) -> None:
        self._write("release", key)

    def patch_ingress(self, key: ServiceKey, ingress: tuple[Ingress, ...]) -> None:
        self._write("patch_ingress", key)

    def set_condition(self, key: ServiceKey, condition: StatusCondition) -> None:
        self._write("set_condition", key)

    def clear_condition(self, key: ServiceKey, condition_type: str) -> None:
        self._write("clear_condition", key)

    def create_event(self, ref: ObjectRef, *, type_: str, reason: str, message: str) -> str:
        self.events.append((type_, reason, message))
        return f"event-{len(self.events)}"

    def bump_event(self, namespace: str, name: str, count: int) -> None:
        pass


@dataclass
class FakeProvider:
    """Hands out 198.18.0.200 + n; `fail` maps a key to what its ensure raises."""

    fail: dict[ServiceKey, LbctlError] = field(default_factory=dict)
    ensured: list[ServiceKey] = field(default_factory=list)
    deleted: list[ServiceKey] = field(default_factory=list)
    backend_updates: list[list[LoadBalancer]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return "fake"

    def restore(self, published: Mapping[ServiceKey, tuple[Ingress, ...]]) -> list[ServiceKey]:
        return []

    def ensure(self, lb: LoadBalancer) -> tuple[Ingress, ...]:
        self.ensured.append(lb.key)
        if lb.key in self.fail:
            raise self.fail[lb.key]
        return (Ingress(ip=f"198.18.0.{200 + len(self.ensured)}"),)

    def update_backends(self, lbs: Sequence[LoadBalancer]) -> Mapping[ServiceKey, Exception]:
        with self.lock:
            self.backend_updates.append(list(lbs))
        return {}

    def delete(self, key: ServiceKey, uid: str) -> None:
        self.deleted.append(key)

    def plan(self, lb: LoadBalancer) -> list[Change]:
        return []

    def plan_delete(self, key: ServiceKey, uid: str) -> list[Change]:
        return []

    def list_owned(self) -> list[OwnedResource]:
        return []

    def delete_owned(self, resource: OwnedResource) -> None:
        pass


@dataclass
class World:
    services: dict[ServiceKey, ServiceSpec] = field(default_factory=dict)
    cluster: FakeCluster = field(default_factory=FakeCluster)
    provider: FakeProvider = field(default_factory=FakeProvider)
    requeued: list[ServiceKey] = field(default_factory=list)
    clock: FakeClock = field(default_factory=FakeClock)
    metrics: Metrics = field(default_factory=Metrics)
    nodes: list[NodeInfo] = field(
        default_factory=lambda: [NodeInfo(name="n1", internal_ip="198.18.0.10")]
    )

    def list_nodes(self) -> list[NodeInfo]:
        return list(self.nodes)

    def reconciler(self) -> Reconciler:
        return Reconciler(
            get_service=self.services.get,
            list_nodes=self.list_nodes,
            provider=self.provider,
            writer=self.cluster,
            recorder=EventRecorder(self.cluster),
            policy=ClassPolicy(CLASS),
            metrics=self.metrics,
            clock=self.clock,
            requeue=self.requeued.append,
        )

    def add(self, spec: ServiceSpec) -> ServiceKey:
        self.services[spec.key] = spec
        return spec.key
