"""lbctl's Prometheus metrics, on a registry of our own (lbcommon.httpserver serves them).

No global registry: each controller (and each test) owns a `Metrics`, so two
instances in one process never share or clash on counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """The controller's metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconciles = Counter(
            "lbctl_reconciles", "Reconciles by result.", ["result"], registry=r
        )
        self.errors = Counter(
            "lbctl_reconcile_errors", "Reconcile errors by kind.", ["kind"], registry=r
        )
        self.reconcile_seconds = Histogram(
            "lbctl_reconcile_duration_seconds",
            "Time spent in one reconcile.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.queue_depth = Gauge("lbctl_workqueue_depth", "Keys waiting in the queue.", registry=r)
        self.queue_latency = Histogram(
            "lbctl_workqueue_queue_duration_seconds",
            "Time a key waits in the queue before a worker takes it.",
            buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60),
            registry=r,
        )
        self.queue_retries = Counter("lbctl_workqueue_retries", "Rate-limited re-adds.", registry=r)
        self.provider_calls = Counter(
            "lbctl_provider_calls",
            "Calls to the cloud provider's API.",
            ["provider", "method", "result"],
            registry=r,
        )
        self.node_syncs = Counter(
            "lbctl_node_syncs", "Backend updates after node changes.", ["result"], registry=r
        )
        self.leader = Gauge("lbctl_leader", "1 while this instance leads.", registry=r)

    # QueueObserver protocol (lbctl.controller.workqueue)
    def on_depth(self, depth: int) -> None:
        self.queue_depth.set(depth)

    def on_latency(self, seconds: float) -> None:
        self.queue_latency.observe(seconds)

    def on_work_duration(self, seconds: float) -> None:
        """Reconcile time is measured by the reconciler itself."""

    def on_retry(self) -> None:
        self.queue_retries.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
