"""nodeproxy's metrics and /healthz, on a registry of its own.

Traffic figures are read from the kernel's named nft counters at scrape
time (nothing is counted in Python on the packet path): per listener the
packets and bytes that arrived, new connections (flows) forwarded, packets
denied by source ranges, dropped for want of a backend, and dropped by the
connection limit. Backend health and owned addresses are gauges; address
takeovers are counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from nodeproxy.config import DataplaneConfig
from nodeproxy.nft import counter_name

_KINDS = {
    "rx": ("nodeproxy_listener_packets", "Packets that arrived for a listener."),
    "new": ("nodeproxy_listener_connections", "New connections (flows) forwarded."),
    "deny": ("nodeproxy_listener_denied_packets", "Packets dropped by source ranges."),
    "drop": ("nodeproxy_listener_no_backend_packets", "Packets dropped: no backend."),
    "full": ("nodeproxy_listener_limited_packets", "New flows dropped: connection limit."),
}


class _NftCollector(Collector):
    def __init__(
        self,
        config: Callable[[], DataplaneConfig],
        counters: Callable[[], dict[str, tuple[int, int]]],
    ) -> None:
        self._config = config
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        labels = ["ip", "protocol", "port", "service"]
        families = {
            kind: CounterMetricFamily(name, help_, labels=labels)
            for kind, (name, help_) in _KINDS.items()
        }
        received_bytes = CounterMetricFamily(
            "nodeproxy_listener_bytes", "Bytes that arrived for a listener.", labels=labels
        )
        values = self._counters()
        for listener in self._config().listeners:
            label_values = [
                str(listener.ip),
                listener.protocol.value,
                str(listener.port),
                listener.service,
            ]
            for kind, family in families.items():
                packets, size = values.get(counter_name(kind, listener), (0, 0))
                family.add_metric(label_values, packets)
                if kind == "rx":
                    received_bytes.add_metric(label_values, size)
        yield from families.values()
        yield received_bytes


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.backend_healthy = Gauge(
            "nodeproxy_backend_healthy",
            "1 if a backend's health check passes.",
            ["target"],
            registry=r,
        )
        self.owned = Gauge(
            "nodeproxy_owned_addresses", "LB IPs this instance announces.", registry=r
        )
        self.announcements = Counter(
            "nodeproxy_announcements", "Addresses taken over (added and announced).", registry=r
        )
        self.releases = Counter("nodeproxy_releases", "Addresses given up.", registry=r)
        self.apply_errors = Gauge(
            "nodeproxy_apply_errors", "Failed data-plane updates since start.", registry=r
        )

    def watch_dataplane(
        self,
        config: Callable[[], DataplaneConfig],
        counters: Callable[[], dict[str, tuple[int, int]]],
    ) -> None:
        self.registry.register(_NftCollector(config, counters))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """/metrics and /healthz on one address; `stop` joins its thread."""

    def __init__(self, metrics: Metrics, address: str, healthy: Callable[[], bool]) -> None:
        host, _, port = address.rpartition(":")
        self._server = ThreadingHTTPServer(
            (host or "0.0.0.0", int(port)), _handler(metrics, healthy)
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="nodeproxy-metrics")

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


def _handler(metrics: Metrics, healthy: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
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
            """Scrapes are not news."""

    return Handler
