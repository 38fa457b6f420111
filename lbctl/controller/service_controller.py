"""Wires informers, the work queue, workers and node sync into one controller.

Start order: informers list and sync; the provider adopts what Services
already publish (so a restart never moves an IP); every Service is queued
once; workers and node sync start. `stop()` undoes it all and joins every
thread it started.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from lbcommon.desired import ClassPolicy
from lbcommon.kube.convert import node_from_api, service_from_api
from lbcommon.kube.informer import Informer, Obj, object_key
from lbcommon.model import Ingress, NodeInfo, ServiceKey
from lbctl.controller.nodesync import NodeSyncer
from lbctl.controller.reconcile import Outcome, Reconciler
from lbctl.controller.workqueue import ExponentialBackoff, WorkQueue
from lbctl.kube.gateway import EventRecorder, KubeGateway
from lbctl.metrics import Metrics
from lbctl.providers.base import Provider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControllerSettings:
    policy: ClassPolicy
    workers: int = 4
    resync_period: float = 300.0
    backoff_base: float = 5.0
    backoff_cap: float = 300.0
    node_settle: float = 0.2


class _ServiceHandler:
    def __init__(self, queue: WorkQueue[str]) -> None:
        self._queue = queue

    def on_add(self, obj: Obj) -> None:
        self._queue.add(object_key(obj))

    def on_update(self, old: Obj, new: Obj) -> None:
        self._queue.add(object_key(new))

    def on_delete(self, obj: Obj) -> None:
        self._queue.add(object_key(obj))


class _NodeHandler:
    def __init__(self, syncer: NodeSyncer) -> None:
        self._syncer = syncer

    def on_add(self, obj: Obj) -> None:
        self._syncer.trigger()

    def on_update(self, old: Obj, new: Obj) -> None:
        if node_from_api(old) != node_from_api(new):
            self._syncer.trigger()

    def on_delete(self, obj: Obj) -> None:
        self._syncer.trigger()


class ServiceController:
    """The whole controller for one provider."""

    def __init__(
        self,
        gateway: KubeGateway,
        provider: Provider,
        settings: ControllerSettings,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.queue: WorkQueue[str] = WorkQueue(
            rate_limiter=ExponentialBackoff(base=settings.backoff_base, cap=settings.backoff_cap),
            observer=self.metrics,
            name="services",
        )
        self.recorder = EventRecorder(gateway)
        self.services = Informer(
            "services",
            gateway.list_services,
            _ServiceHandler(self.queue),
            resync_period=settings.resync_period,
        )
        self.reconciler = Reconciler(
            get_service=self.services.get,
            list_nodes=self._nodes,
            provider=provider,
            gateway=gateway,
            recorder=self.recorder,
            policy=settings.policy,
            metrics=self.metrics,
        )
        self.node_syncer = NodeSyncer(
            list_nodes=self._nodes,
            reconciler=self.reconciler,
            provider=provider,
            recorder=self.recorder,
            requeue=self.queue.add,
            metrics=self.metrics,
            settle=settings.node_settle,
        )
        self.nodes = Informer(
            "nodes",
            gateway.list_nodes,
            _NodeHandler(self.node_syncer),
            resync_period=settings.resync_period,
        )
        self._workers: list[threading.Thread] = []
        self._started = threading.Event()

    def _nodes(self) -> list[NodeInfo]:
        return [node_from_api(obj) for obj in self.nodes.items()]

    @property
    def healthy(self) -> bool:
        return self._started.is_set() and not self.queue.shutting_down

    def start(self, *, sync_timeout: float = 60.0) -> ServiceController:
        self.nodes.start()
        self.services.start()
        for informer in (self.nodes, self.services):
            if not informer.wait_synced(sync_timeout):
                self.stop()
                raise TimeoutError(f"{informer.name} informer did not sync in {sync_timeout}s")
        lost = self.provider.restore(self._published())
        for key in lost:
            log.warning("published ingress cannot be kept; re-allocating", extra={"service": key})
        self.node_syncer.start()
        for index in range(self.settings.workers):
            worker = threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._started.set()
        log.info(
            "controller started",
            extra={"provider": self.provider.name, "workers": self.settings.workers},
        )
        return self

    def _published(self) -> dict[ServiceKey, tuple[Ingress, ...]]:
        published: dict[ServiceKey, tuple[Ingress, ...]] = {}
        for obj in self.services.items():
            spec = service_from_api(obj)
            if self.settings.policy.serves(spec) and spec.ingress and not spec.deleting:
                published[spec.key] = spec.ingress
        return published

    def stop(self) -> None:
        self.queue.shutdown()
        self.node_syncer.stop()
        self.services.stop()
        self.nodes.stop()
        for worker in self._workers:
            worker.join(timeout=30)
        self._workers.clear()
        self._started.clear()

    def _work(self) -> None:
        while True:
            with self.queue.processing() as key:
                if key is None:
                    return
                self._process(key)

    def _process(self, key: str) -> None:
        try:
            result = self.reconciler.reconcile(key)
        except Exception:
            log.exception("reconcile crashed", extra={"service": key})
            self.queue.add_rate_limited(key)
            return
        match result.outcome:
            case Outcome.DONE:
                self.queue.forget(key)
            case Outcome.RETRY:
                self.queue.add_rate_limited(key)
            case Outcome.RETRY_AFTER:
                self.queue.add_after(key, result.after or 0.0)

    def describe(self) -> dict[str, Any]:
        return {
            "provider": self.provider.name,
            "queue": len(self.queue),
            "services": len(self.services.keys()),
            "nodes": len(self.nodes.keys()),
        }
