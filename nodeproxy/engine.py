"""Keeps the kernel in step with Services, Nodes, owned IPs and backend health.

Guarantees:
- Inputs (`update`) and health changes only set a flag; one thread of ours
  recomputes the whole DataplaneConfig (a pure function, nodeproxy.config)
  and applies it, so changes that arrive together cost one nft transaction.
- It also recomputes every RESYNC seconds, picking up neighbour (MAC)
  changes and repairing anything that edited our table.
- A failed apply is logged, counted and retried on the next trigger or
  resync; it never stops the loop.
- `stop` stops the health checker and joins our thread; the table stays
  (so a restart does not drop flows) unless `close` is called.
- Waiting for the resync runs on the injected Clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address

from lbcommon.clock import Clock, RealClock, Wakeup
from lbcommon.model import NodeInfo, ServiceSpec
from lbcommon.pools import Pool
from nodeproxy.config import DataplaneConfig, all_ips, build_config, health_targets
from nodeproxy.dataplane import Dataplane, DataplaneError, link_layer_addresses
from nodeproxy.health import HealthChecker, HealthSettings

log = logging.getLogger(__name__)

#: seconds between recomputations when nothing triggers one
RESYNC = 5.0


class Engine:
    def __init__(
        self,
        *,
        dataplane: Dataplane,
        pools: tuple[Pool, ...],
        health: HealthSettings,
        namespace: str | None = None,
        on_applied: Callable[[DataplaneConfig], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.dataplane = dataplane
        self._pools = pools
        self._ns = namespace
        self._on_applied = on_applied
        self._lock = threading.Lock()
        self._services: tuple[ServiceSpec, ...] = ()
        self._nodes: tuple[NodeInfo, ...] = ()
        self._owned: frozenset[IPv4Address] = frozenset()
        self._clock = clock or RealClock()
        self._dirty = Wakeup(self._clock)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.health = HealthChecker(
            health, on_change=self._dirty.set, namespace=namespace, clock=self._clock
        )
        self.config = DataplaneConfig()
        self.apply_errors = 0

    def update(
        self,
        *,
        services: Iterable[ServiceSpec] | None = None,
        nodes: Iterable[NodeInfo] | None = None,
        owned: Iterable[IPv4Address] | None = None,
    ) -> None:
        with self._lock:
            if services is not None:
                self._services = tuple(services)
                self.health.set_targets(health_targets(self._services, self._nodes, self._pools))
            if nodes is not None:
                self._nodes = tuple(nodes)
                self.health.set_targets(health_targets(self._services, self._nodes, self._pools))
            if owned is not None:
                self._owned = frozenset(owned)
        self._dirty.set()

    def wanted_ips(self) -> frozenset[IPv4Address]:
        """Every LB IP some served Service uses (what the announcer distributes)."""
        with self._lock:
            return all_ips(self._services, self._pools)

    def start(self) -> Engine:
        self.health.start()
        self._thread = threading.Thread(target=self._run, name="nodeproxy-engine")
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether our thread and the health checker's run."""
        return self._thread is not None and self._thread.is_alive() and self.health.alive

    def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.health.stop()

    def sync(self) -> DataplaneConfig:
        """Recompute and apply now (on the caller's thread)."""
        with self._lock:
            services, nodes, owned = self._services, self._nodes, self._owned
        settings = self.dataplane.settings
        macs = link_layer_addresses(settings.interface, settings.mac, namespace=self._ns)
        config = build_config(
            services=services,
            nodes=nodes,
            pools=self._pools,
            owned=owned,
            health=self.health.snapshot(),
            macs=macs,
        )
        for problem in config.problems:
            log.warning("not served: %s", problem)
        if self.dataplane.apply(config):
            log.info(
                "data plane updated",
                extra={"listeners": len(config.listeners), "ips": len(config.ips)},
            )
        self.config = config
        if self._on_applied is not None:
            self._on_applied(config)
        return config

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait(RESYNC)
            if self._stopping.is_set():
                return
            self._dirty.clear()
            try:
                self.sync()
            except (DataplaneError, OSError, ValueError) as err:
                self.apply_errors += 1
                log.error("applying the data plane failed: %s", err)
