"""nodeproxy's metrics and /healthz, on a registry of its own.

Traffic figures are read from the kernel's named nft counters at scrape
time (nothing is counted in Python on the packet path): per listener the
packets and bytes that arrived, new connections (flows) forwarded, packets
denied by source ranges, dropped for want of a backend, and dropped by the
connection limit. Backend health, owned addresses and the live instances
this one sees are gauges; address takeovers are counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
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
        self.live = Gauge(
            "nodeproxy_live_instances",
            "nodeproxy instances this one considers alive, itself included.",
            registry=r,
        )
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
