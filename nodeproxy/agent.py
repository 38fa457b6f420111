"""The nodeproxy process: Kubernetes in, announcement and kernel rules out.

Wiring only: informers (Services, Nodes) feed the Engine; the Announcer
decides which IPs we own and feeds the Engine too; after every apply the
Engine's result decides which addresses sit on the interface. Order on a
takeover: rules first, then the address and gratuitous ARP, so the first
packet that reaches us is already forwarded.

Guarantees: `stop` gives everything back (Lease deleted, addresses removed,
nft table deleted) and joins every thread it started.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from ipaddress import IPv4Address

from kubernetes import client

from lbcommon.httpserver import MetricsServer
from lbcommon.kube.convert import node_from_api, service_from_api
from lbcommon.kube.informer import Informer, Obj
from lbcommon.pools import Pool
from nodeproxy.addresses import Addresses
from nodeproxy.announce import Announcer, MembershipSettings
from nodeproxy.config import DataplaneConfig
from nodeproxy.dataplane import Dataplane, interface_mac
from nodeproxy.engine import Engine
from nodeproxy.health import HealthSettings
from nodeproxy.metrics import Metrics
from nodeproxy.nft import RenderSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentSettings:
    interface: str
    node_name: str
    pools: tuple[Pool, ...]
    lease_namespace: str = "kube-system"
    metrics_addr: str | None = None
    netns: str | None = None
    max_connections: int = 65536
    tcp_idle_timeout: int = 3600
    udp_idle_timeout: int = 120
    resync_period: float = 300.0


class _Dirty:
    """Informer handler: remember that something changed."""

    def __init__(self, flag: threading.Event) -> None:
        self._flag = flag

    def on_add(self, obj: Obj) -> None:
        self._flag.set()

    def on_update(self, old: Obj, new: Obj) -> None:
        if old is not new:
            self._flag.set()

    def on_delete(self, obj: Obj) -> None:
        self._flag.set()


class Agent:
    def __init__(self, api: client.ApiClient, settings: AgentSettings) -> None:
        self.settings = settings
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
        )
        self.metrics.watch_dataplane(lambda: self.engine.config, self.dataplane.counters)
        self._dirty = threading.Event()
        core = client.CoreV1Api(api)
        self.services = Informer(
            "services",
            core.list_service_for_all_namespaces,
            _Dirty(self._dirty),
            resync_period=settings.resync_period,
        )
        self.nodes = Informer(
            "nodes", core.list_node, _Dirty(self._dirty), resync_period=settings.resync_period
        )
        self.announcer = Announcer(
            api,
            MembershipSettings(namespace=settings.lease_namespace, identity=settings.node_name),
            wanted=self.engine.wanted_ips,
            on_owned=lambda owned: self.engine.update(owned=owned),
        )
        self._server: MetricsServer | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="nodeproxy-feed")

    def start(self) -> Agent:
        if self.settings.metrics_addr:
            self._server = MetricsServer(
                self.metrics.render, self.settings.metrics_addr, ready=self.healthy
            ).start()
        self.engine.start()
        self.services.start()
        self.nodes.start()
        self._thread.start()
        self.announcer.start()
        return self

    def healthy(self) -> bool:
        return self.settings.node_name in self.announcer.live() and self.services.has_synced

    def stop(self) -> None:
        self.announcer.stop(release=True)
        self._stopping.set()
        self._dirty.set()
        self._thread.join(timeout=10)
        self.services.stop()
        self.nodes.stop()
        self.engine.stop()
        self.addresses.hold(())
        self.dataplane.close()
        if self._server is not None:
            self._server.stop()

    def _feed(self) -> None:
        """Hand the informers' caches to the engine, at most ten times a second."""
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.is_set():
                return
            self._dirty.clear()
            self.engine.update(
                services=[service_from_api(s) for s in self.services.items()],
                nodes=[node_from_api(n) for n in self.nodes.items()],
            )
            time.sleep(0.1)

    def _applied(self, config: DataplaneConfig) -> None:
        added, removed = self.addresses.hold(config.ips)
        self.metrics.announcements.inc(len(added))
        self.metrics.releases.inc(len(removed))
        self.metrics.owned.set(len(config.ips))
        self.metrics.apply_errors.set(self.engine.apply_errors)
        for target, ok in self.engine.health.snapshot().items():
            self.metrics.backend_healthy.labels(target=str(target)).set(1 if ok else 0)

    @property
    def owned(self) -> frozenset[IPv4Address]:
        return self.engine.config.ips
