"""What `lbctl run`, `lbctl plan` and `lbctl gc` do, given Settings.

The only module that chooses a provider (imported lazily, so a local-only
install never loads the cloud SDKs) and the one that wires the real
Kubernetes gateway into the controller. It does not import the Kubernetes
client itself: lbcommon.kube.client loads it, lbctl.kube.gateway uses it.

`plan` and `gc` first let the provider adopt what Services publish, exactly as
the controller does at start, so both see the allocations a running
controller would hold.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from lbcommon.desired import ClassPolicy, desired_load_balancer
from lbcommon.errors import InvalidServiceError
from lbcommon.httpserver import MetricsServer
from lbcommon.kube.client import load_api_client
from lbcommon.kube.leader import LeaderElector, LeaseSettings
from lbcommon.model import OWNER_ANNOTATION
from lbctl.controller.service_controller import (
    ControllerSettings,
    ServiceController,
    published_ingress,
)
from lbctl.kube.gateway import KubeGateway
from lbctl.metrics import Metrics
from lbctl.providers.base import Provider
from lbctl.settings import Settings

log = logging.getLogger(__name__)


def build_provider(settings: Settings, metrics: Metrics) -> Provider:
    if settings.provider == "local":
        from lbctl.providers.local import LocalProvider

        return LocalProvider(settings.pools)
    if settings.provider == "gce":
        from lbctl.providers.gce import build_gce_provider

        return build_gce_provider(settings, metrics)
    from lbctl.providers.aws import build_aws_provider

    return build_aws_provider(settings, metrics)


def controller_settings(settings: Settings) -> ControllerSettings:
    return ControllerSettings(
        policy=_policy(settings),
        workers=settings.workers,
        resync_period=settings.resync_period,
    )


def run(settings: Settings, *, stop: threading.Event | None = None) -> int:
    """Run the controller until SIGTERM/SIGINT (or `stop`); leader-elected if asked."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    api = load_api_client(settings.kubeconfig)
    gateway = KubeGateway(api)
    metrics = Metrics()
    controller = ServiceController(
        gateway,
        build_provider(settings, metrics),
        controller_settings(settings),
        metrics=metrics,
    )
    lost = threading.Event()
    leading = threading.Event()
    electors: list[LeaderElector] = []

    def ready() -> bool:
        """A leader whose controller runs, or a standby that can campaign."""
        if lost.is_set():
            return False
        if leading.is_set():
            return controller.healthy
        return not any(elector.blocked for elector in electors)

    server = MetricsServer(
        metrics.render,
        settings.metrics_addr,
        ready=ready,
        # Live: leadership was not lost (a replica that lost it exits anyway).
        live=lambda: not lost.is_set(),
    ).start()
    try:
        if not settings.leader_elect:
            leading.set()
            try:
                controller.start()
            except TimeoutError as err:
                print(f"lbctl: {err}: is the apiserver reachable?", file=sys.stderr)
                return 1
            stop.wait()
            return 0
        started, stopped = _leadership(
            controller=controller, metrics=metrics, leading=leading, lost=lost, stop=stop
        )
        elector = LeaderElector(
            api,
            LeaseSettings(
                namespace=settings.leader_elect_namespace,
                name=settings.load_balancer_class.replace("/", "-").replace(".", "-"),
                identity=settings.leader_elect_id,
            ),
            on_started_leading=started,
            on_stopped_leading=stopped,
        )
        electors.append(elector)
        elector.start()
        stop.wait()
        # What leads stops before the Lease is released, as upstream does.
        controller.stop()
        elector.stop()
        return 1 if lost.is_set() else 0
    finally:
        controller.stop()
        server.stop()
        gateway.close()


def _leadership(
    *,
    controller: ServiceController,
    metrics: Metrics,
    leading: threading.Event,
    lost: threading.Event,
    stop: threading.Event,
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The elector's callbacks: start the controller when leading, exit when that ends."""

    def started() -> None:
        metrics.leader.set(1)
        leading.set()
        try:
            controller.start()
        except TimeoutError as err:
            # A leader that cannot start must not sit on the Lease: exit
            # non-zero (liveness fails too), so the kubelet restarts it and a
            # standby takes over meanwhile.
            log.error("cannot lead: %s; is the apiserver reachable?", err)
            lost.set()
            stop.set()

    def stopped() -> None:
        metrics.leader.set(0)
        if not stop.is_set():
            # Leadership lost while we meant to lead: exit, as upstream does, so
            # nothing this replica still has in flight races the new leader.
            lost.set()
            stop.set()

    return started, stopped


def _policy(settings: Settings) -> ClassPolicy:
    return ClassPolicy(settings.load_balancer_class, default_class=settings.default_class)


def plan(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Print per Service what the provider would create, change or delete."""
    gateway = KubeGateway(load_api_client(settings.kubeconfig))
    try:
        provider = build_provider(settings, Metrics())
        policy = _policy(settings)
        services, nodes = gateway.service_specs(), gateway.node_infos()
        provider.restore(published_ingress(services, policy))
        changes = 0
        for spec in sorted(services, key=lambda s: s.key):
            if policy.serves(spec) and not spec.deleting:
                try:
                    lines = [str(c) for c in provider.plan(desired_load_balancer(spec, nodes))]
                except InvalidServiceError as err:
                    lines = [f"invalid: {err}"]
            elif spec.annotation(OWNER_ANNOTATION) == settings.load_balancer_class:
                lines = [str(c) for c in provider.plan_delete(spec.key, spec.uid)]
            else:
                continue
            changes += len(lines)
            print(f"{spec.key}: {'no changes' if not lines else ''}", file=out)
            for line in lines:
                print(f"  {line}", file=out)
        print(f"{changes} change(s) planned; nothing was modified.", file=out)
        return 0
    finally:
        gateway.close()


def gc(settings: Settings, *, delete: bool, out: TextIO = sys.stdout) -> int:
    """List (and with `delete`, remove) provider resources no Service claims."""
    gateway = KubeGateway(load_api_client(settings.kubeconfig))
    try:
        provider = build_provider(settings, Metrics())
        services = gateway.service_specs()
        provider.restore(published_ingress(services, _policy(settings)))
        live = {(s.key, s.uid) for s in services if s.type == "LoadBalancer" and not s.deleting}
        live_keys = {key for key, _ in live}
        orphans = [
            r
            for r in provider.list_owned()
            if r.service is None
            or (r.uid is not None and (r.service, r.uid) not in live)
            or (r.uid is None and r.service not in live_keys)
        ]
        for resource in orphans:
            owner = resource.service or "(no service)"
            print(f"orphan {resource.kind} {resource.name} (owner {owner})", file=out)
            if delete:
                provider.delete_owned(resource)
                print(f"  deleted {resource.kind} {resource.name}", file=out)
        print(f"{len(orphans)} orphaned resource(s){' deleted' if delete else ''}.", file=out)
        return 0
    finally:
        gateway.close()
