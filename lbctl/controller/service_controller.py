"""Wires informers, the work queue, workers and node sync into one controller.

Start order: informers list and sync; the provider adopts what Services
already publish (so a restart never moves an IP); every Service is queued
once; workers and node sync start. `stop()` undoes it all and joins every
thread it started.

The informers translate Services and Nodes into ServiceSpec and NodeInfo once
per resourceVersion; nothing past them sees an API object. Everything that
measures or waits for time (the queue's delays, node sync's settle, the
informers' resync, reconcile's duration metric) runs on the one injected
Clock. The controller is `idle` when no key is queued and none is being
reconciled (keys waiting out a delay do not count).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from lbcommon.clock import Clock, RealClock
from lbcommon.desired import ClassPolicy
from lbcommon.informer import Informer
from lbcommon.model import OWNER_ANNOTATION, Ingress, NodeInfo, ServiceKey, ServiceSpec
from lbctl.controller.events import EventRecorder
from lbctl.controller.nodesync import NodeSyncer
from lbctl.controller.ports import ClusterGateway
from lbctl.controller.reconcile import Outcome, Reconciler
from lbctl.controller.workqueue import ExponentialBackoff, WorkQueue
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
    """Services only enqueue their key."""

    def __init__(self, queue: WorkQueue[ServiceKey]) -> None:
        self._queue = queue

    def on_add(self, obj: ServiceSpec) -> None:
        self._queue.add(obj.key)

    def on_update(self, old: ServiceSpec, new: ServiceSpec) -> None:
        self._queue.add(new.key)

    def on_delete(self, obj: ServiceSpec) -> None:
        self._queue.add(obj.key)


class _NodeHandler:
    """Nodes only wake node sync, and only when what a load balancer uses changed."""

    def __init__(self, syncer: NodeSyncer) -> None:
        self._syncer = syncer

    def on_add(self, obj: NodeInfo) -> None:
        self._syncer.trigger()

    def on_update(self, old: NodeInfo, new: NodeInfo) -> None:
        if old != new:
            self._syncer.trigger()

    def on_delete(self, obj: NodeInfo) -> None:
        self._syncer.trigger()


class ServiceController:
    """The whole controller for one provider."""

    def __init__(
        self,
        gateway: ClusterGateway,
        provider: Provider,
        settings: ControllerSettings,
        *,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.clock: Clock = clock or RealClock()
        self.queue: WorkQueue[ServiceKey] = WorkQueue(
            clock=self.clock,
            rate_limiter=ExponentialBackoff(base=settings.backoff_base, cap=settings.backoff_cap),
            observer=self.metrics,
            name="services",
        )
        self.recorder = EventRecorder(gateway)
        self.services: Informer[ServiceSpec] = Informer(
            "services",
            gateway.list_services,
            gateway.service_from_api,
            _ServiceHandler(self.queue),
            clock=self.clock,
            resync_period=settings.resync_period,
        )
        self.reconciler = Reconciler(
            get_service=self.services.get,
            list_nodes=self.nodes_now,
            provider=provider,
            writer=gateway,
            recorder=self.recorder,
            policy=settings.policy,
            metrics=self.metrics,
            clock=self.clock,
            requeue=self.queue.add,
        )
        self.node_syncer = NodeSyncer(
            list_nodes=self.nodes_now,
            reconciler=self.reconciler,
            provider=provider,
            recorder=self.recorder,
            requeue=self.queue.add,
            metrics=self.metrics,
            clock=self.clock,
            settle=settings.node_settle,
        )
        self.nodes: Informer[NodeInfo] = Informer(
            "nodes",
            gateway.list_nodes,
            gateway.node_from_api,
            _NodeHandler(self.node_syncer),
            clock=self.clock,
            resync_period=settings.resync_period,
        )
        self._workers: list[threading.Thread] = []
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()

    def nodes_now(self) -> list[NodeInfo]:
        """Every Node in the cache."""
        return self.nodes.items()

    @property
    def healthy(self) -> bool:
        return self._started.is_set() and not self.queue.shutting_down

    @property
    def idle(self) -> bool:
        """No key is queued and none is being reconciled."""
        return self.queue.idle

    def start(self, *, sync_timeout: float = 60.0) -> ServiceController:
        """Sync the caches, adopt what Services publish, start node sync and workers.

        Safe against a concurrent `stop()` (leader election starts us on a
        thread of its own): a stop during the sync ends the wait, and nothing
        starts after it.
        """
        self.nodes.start()
        self.services.start()
        deadline = self.clock.now() + sync_timeout
        for informer in (self.nodes, self.services):
            while not informer.wait_synced(0.1):
                if self._stopping.is_set():
                    return self
                if self.clock.now() >= deadline:
                    self.stop()
                    raise TimeoutError(f"{informer.name} informer did not sync in {sync_timeout}s")
        with self._lifecycle:
            if self._stopping.is_set():
                return self
            lost = self.provider.restore(self._published())
            for key in lost:
                log.warning(
                    "published ingress cannot be kept; re-allocating", extra={"service": key}
                )
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
        return published_ingress(self.services.items(), self.settings.policy)

    def stop(self) -> None:
        self._stopping.set()
        with self._lifecycle:
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

    def _process(self, key: ServiceKey) -> None:
        try:
            result = self.reconciler.reconcile(key)
        except Exception:
            log.exception("reconcile crashed", extra={"service": key})
            self.queue.add_rate_limited(key)
            return
        match result.outcome:
            case Outcome.DONE | Outcome.GIVE_UP:
                # Given up: only a change of the Service or the resync brings it back.
                self.queue.forget(key)
            case Outcome.RETRY:
                self.queue.add_rate_limited(key)
            case Outcome.RETRY_AFTER:
                self.queue.add_after(key, result.after or 0.0)


def published_ingress(
    services: Iterable[ServiceSpec], policy: ClassPolicy
) -> dict[ServiceKey, tuple[Ingress, ...]]:
    """What Services publish that the provider must adopt before any ensure.

    The Services we serve, and also those being deleted or no longer ours but
    still carrying our ownership mark: until they are cleaned up, what they
    publish is still allocated, and handing it out again would give one
    address to two Services.
    """
    return {
        spec.key: spec.ingress
        for spec in services
        if spec.ingress
        and (policy.serves(spec) or spec.annotation(OWNER_ANNOTATION) == policy.load_balancer_class)
    }
