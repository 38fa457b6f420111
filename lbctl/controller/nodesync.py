"""Node sync: re-point every load balancer at the eligible nodes, in one batch.

Node events only signal; one thread coalesces bursts (a rolling node pool is
one sync, not one per node), computes the eligible backend set, and when it
changed hands *all* load balancers to the provider in a single
`update_backends` call, which batches per cloud resource and runs
concurrently. Upstream instead re-syncs each Service serially
(kubernetes#111539: hours at 200 LBs and 500 nodes).

A Service whose backend update failed is re-queued for a full reconcile.
Time (the settle delay) runs on the injected Clock, so a test steps a
FakeClock through it instead of sleeping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from lbcommon.clock import Clock, StopSignal
from lbcommon.desired import eligible_backends
from lbcommon.model import NodeInfo, ServiceKey
from lbctl.controller.events import EventRecorder
from lbctl.controller.ports import ObjectRef
from lbctl.controller.reconcile import Reconciler
from lbctl.metrics import Metrics
from lbctl.providers.base import Provider

log = logging.getLogger(__name__)


class NodeSyncer:
    """Runs on its own thread; `trigger()` is safe from any thread."""

    def __init__(
        self,
        *,
        list_nodes: Callable[[], list[NodeInfo]],
        reconciler: Reconciler,
        provider: Provider,
        recorder: EventRecorder,
        requeue: Callable[[ServiceKey], None],
        metrics: Metrics,
        clock: Clock,
        settle: float = 0.2,
    ) -> None:
        self._list_nodes = list_nodes
        self._reconciler = reconciler
        self._provider = provider
        self._recorder = recorder
        self._requeue = requeue
        self._metrics = metrics
        self._settle = settle
        self._wake = threading.Event()
        self._stopping = StopSignal(clock)
        self._thread: threading.Thread | None = None

    def trigger(self) -> None:
        self._wake.set()

    def start(self) -> NodeSyncer:
        self._thread = threading.Thread(target=self._run, name="node-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            if self._stopping.is_set():
                return
            # Let a burst of node events settle into one sync.
            if self._stopping.wait(self._settle):
                return
            self._wake.clear()
            try:
                self.sync_once()
            except Exception:
                log.exception("node sync failed")
                self._metrics.node_syncs.labels(result="error").inc()

    def sync_once(self) -> int:
        """Update every ensured load balancer whose backends differ; return how many."""
        backends = eligible_backends(self._list_nodes())
        self._reconciler.nodes_generation += 1
        stale = [lb for lb in self._reconciler.ensured() if lb.backends != backends]
        if not stale:
            return 0
        updated = [lb.with_backends(backends) for lb in stale]
        log.info(
            "nodes changed: %d eligible; updating %d load balancers",
            len(backends),
            len(updated),
            extra={"provider": self._provider.name},
        )
        failures = self._provider.update_backends(updated)
        for lb in updated:
            namespace, name = lb.key.split("/", 1)
            ref = ObjectRef("Service", namespace, name, lb.uid)
            error = failures.get(lb.key)
            if error is None:
                self._reconciler.record_ensured(lb)
                self._recorder.normal(
                    ref, "UpdatedLoadBalancer", "Updated load balancer with new hosts"
                )
            else:
                self._recorder.warning(
                    ref,
                    "LoadBalancerUpdateFailed",
                    f"Error updating load balancer with new hosts: {error}",
                )
                self._requeue(lb.key)
        self._metrics.node_syncs.labels(result="ok" if not failures else "partial").inc()
        return len(updated)
