"""The nodeproxy process: Kubernetes in, announcement and kernel rules out.

Wiring only: informers (Services, Nodes) feed the Engine; an informer over
the heartbeat Leases feeds the Announcer's Membership, and the Announcer
decides which IPs we own and feeds the Engine too; after every apply the
Engine's result decides which addresses sit on the interface. Order on a
takeover: rules first, then the address and gratuitous ARP, so the first
packet that reaches us is already forwarded.

Guarantees:
- the informers hold domain values (ServiceSpec, NodeInfo, LeaseRecord),
  translated once per resourceVersion; the feed hands them over as they are,
  at most ten times a second of the injected clock;
- readiness (`ready`): our own Lease is fresh and every informer has synced;
  liveness (`alive`): the threads we run are running;
- `stop` gives everything back (Lease deleted, addresses removed, nft table
  deleted) and joins every thread it started.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from lbcommon.clock import Clock, RealClock, StopSignal
from lbcommon.httpserver import MetricsServer
from lbcommon.informer import Informer
from lbcommon.kube.client import ApiClient, node_lister, service_lister
from lbcommon.kube.convert import lease_from_api, node_from_api, service_from_api
from lbcommon.kube.leases import Leases
from lbcommon.model import LeaseRecord, NodeInfo, ServiceSpec
from lbcommon.pools import Pool
from nodeproxy.addresses import Addresses
from nodeproxy.announce import LEASE_LABEL, Announcer, Membership, MembershipSettings
from nodeproxy.config import DataplaneConfig
from nodeproxy.dataplane import Dataplane, interface_mac
from nodeproxy.engine import Engine
from nodeproxy.health import HealthSettings
from nodeproxy.metrics import Metrics
from nodeproxy.nft import RenderSettings

log = logging.getLogger(__name__)

#: seconds between the informers' resyncs (a change missed is repaired by then)
RESYNC_PERIOD = 300.0
LEASE_RESYNC_PERIOD = 60.0
#: where the heartbeat Leases live: a namespace of their own, apart from
#: lbctl's leader Lease (deploy/base/nodeproxy/namespace.yaml)
DEFAULT_LEASE_NAMESPACE = "lbctl-nodeproxy"


@dataclass(frozen=True)
class AgentSettings:
    interface: str
    node_name: str
    pools: tuple[Pool, ...]
    lease_namespace: str = DEFAULT_LEASE_NAMESPACE
    metrics_addr: str | None = None
    netns: str | None = None
    max_connections: int = 65536
    tcp_idle_timeout: int = 3600
    udp_idle_timeout: int = 120


class _Dirty:
    """Informer handler: remember that something changed."""

    def __init__(self, flag: threading.Event) -> None:
        self._flag = flag

    def on_add(self, obj: object) -> None:
        self._flag.set()

    def on_update(self, old: object, new: object) -> None:
        if old != new:
            self._flag.set()

    def on_delete(self, obj: object) -> None:
        self._flag.set()


class Agent:
    def __init__(
        self, api: ApiClient, settings: AgentSettings, *, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self._clock = clock or RealClock()
        ns = settings.netns
        mac = interface_mac(settings.interface, namespace=ns)
        self.metrics = Metrics()
        self.dataplane = Dataplane(
            RenderSettings(
                interface=settings.interface,
                mac=mac,
                tcp_idle_timeout=settings.tcp_idle_timeout,
                udp_idle_timeout=settings.udp_idle_timeout,
                max_flows=settings.max_connections,
            ),
            namespace=ns,
        )
        self.addresses = Addresses(settings.interface, mac, settings.pools, namespace=ns)
        self.engine = Engine(
            dataplane=self.dataplane,
            pools=settings.pools,
            health=HealthSettings(),
            namespace=ns,
            on_applied=self._applied,
            clock=self._clock,
        )
        self.metrics.watch_dataplane(lambda: self.engine.config, self.dataplane.counters)
        self._dirty = threading.Event()
        self.services: Informer[ServiceSpec] = Informer(
            "services",
            service_lister(api),
            service_from_api,
            _Dirty(self._dirty),
            clock=self._clock,
            resync_period=RESYNC_PERIOD,
        )
        self.nodes: Informer[NodeInfo] = Informer(
            "nodes",
            node_lister(api),
            node_from_api,
            _Dirty(self._dirty),
            clock=self._clock,
            resync_period=RESYNC_PERIOD,
        )
        leases = Leases(api, settings.lease_namespace)
        membership = Membership(self._clock)
        self.leases: Informer[LeaseRecord] = Informer(
            "leases",
            leases.lister(label_selector=LEASE_LABEL),
            lease_from_api,
            membership,
            clock=self._clock,
            resync_period=LEASE_RESYNC_PERIOD,
        )
        self.announcer = Announcer(
            leases,
            MembershipSettings(namespace=settings.lease_namespace, identity=settings.node_name),
            membership=membership,
            synced=lambda: self.leases.has_synced and self.nodes.has_synced,
            wanted=self.engine.wanted_ips,
            candidates=lambda: {node.name for node in self.nodes.items() if node.eligible},
            on_owned=lambda owned: self.engine.update(owned=owned),
            clock=self._clock,
        )
        self.metrics.live.set_function(lambda: len(self.announcer.live()))
        self._server: MetricsServer | None = None
        self._stopping = StopSignal(self._clock)
        self._thread = threading.Thread(target=self._feed, name="nodeproxy-feed")

    def start(self) -> Agent:
        if self.settings.metrics_addr:
            self._server = MetricsServer(
                self.metrics.render, self.settings.metrics_addr, ready=self.ready, live=self.alive
            ).start()
        self.engine.start()
        for informer in (self.services, self.nodes, self.leases):
            informer.start()
        self._thread.start()
        self.announcer.start()
        return self

    def ready(self) -> bool:
        """Our Lease is fresh and every cache has synced: we may own addresses."""
        return (
            self.settings.node_name in self.announcer.live()
            and self.services.has_synced
            and self.nodes.has_synced
            and self.leases.has_synced
        )

    def alive(self) -> bool:
        """Every thread we run is running."""
        return self._thread.is_alive() and self.engine.alive and self.announcer.alive

    def stop(self) -> None:
        self.announcer.stop()
        self._stopping.set()
        self._dirty.set()
        self._thread.join(timeout=10)
        for informer in (self.services, self.nodes, self.leases):
            informer.stop()
        self.engine.stop()
        self.addresses.hold(())
        self.dataplane.close()
        if self._server is not None:
            self._server.stop()

    def _feed(self) -> None:
        """Hand the informers' values to the engine, at most ten times a second."""
        while True:
            self._dirty.wait()
            if self._stopping.is_set():
                return
            self._dirty.clear()
            self.engine.update(services=self.services.items(), nodes=self.nodes.items())
            if self._stopping.wait(0.1):
                return

    def _applied(self, config: DataplaneConfig) -> None:
        added, removed = self.addresses.hold(config.ips)
        self.metrics.announcements.inc(len(added))
        self.metrics.releases.inc(len(removed))
        self.metrics.owned.set(len(config.ips))
        self.metrics.apply_errors.set(self.engine.apply_errors)
        for target, ok in self.engine.health.snapshot().items():
            self.metrics.backend_healthy.labels(target=str(target)).set(1 if ok else 0)
