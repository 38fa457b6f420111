"""Prometheus metrics and the /healthz endpoint, on a registry of our own.

No global registry: each controller (and each test) owns a `Metrics`, so two
instances in one process never share or clash on counters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    """The controller's metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
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


class MetricsServer:
    """Serves /metrics and /healthz on one address; stop() joins its thread.

    Shared by lbctl and nodeproxy: `render` produces the exposition text.
    """

    def __init__(
        self, render: Callable[[], bytes], address: str, healthy: Callable[[], bool]
    ) -> None:
        host, _, port = address.rpartition(":")
        handler = _handler(render, healthy)
        self._server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(
    render: Callable[[], bytes], healthy: Callable[[], bool]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, render(), CONTENT_TYPE_LATEST)
            elif self.path in ("/healthz", "/livez", "/readyz"):
                ok = healthy()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"unhealthy\n", "text/plain")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: scrapes are not news."""

    return Handler
