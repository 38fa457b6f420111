"""LoadBalancer Services: create them for the suite and wait for their ingress.

Guarantees: every LoadBalancer the suite makes carries `--conformance-lb-class`
when one is set; `ingress` waits at most `--conformance-lb-timeout` seconds;
on a cluster whose provider is unknown a missing ingress skips the test with
that reason, while on the local cluster (provider: lbctl) it fails, since a
provider is known to be there. Ingress addresses are admitted to the
runner's guard (a frozen guard refuses them if they lie outside its ranges).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from conformance.cluster import ClusterHandle
from conformance.kube import Namespace, ServiceInfo
from conformance.manifests import Manifest
from conformance.settings import SuiteSettings
from conformance.waiting import WaitTimeoutError, wait_until

LBCTL_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


class LoadBalancers:
    """LoadBalancer Services of one test namespace."""

    def __init__(self, ns: Namespace, settings: SuiteSettings, handle: ClusterHandle) -> None:
        self.ns = ns
        self.timeout = settings.lb_timeout
        self.lb_class = settings.lb_class
        self.handle = handle

    def body(self, service: Manifest) -> Manifest:
        """`service` turned into a LoadBalancer of the suite's class."""
        spec: dict[str, Any] = service["spec"]
        spec["type"] = "LoadBalancer"
        if self.lb_class:
            spec["loadBalancerClass"] = self.lb_class
        return service

    def create(self, service: Manifest) -> str:
        """Create the LoadBalancer Service; return its name."""
        self.ns.create(self.body(service))
        return str(service["metadata"]["name"])

    def ingress(self, name: str, *, timeout: float | None = None) -> str:
        """The first ingress address of Service `name`, waiting for it."""
        bound = timeout or self.timeout

        def ready() -> ServiceInfo | None:
            info = self.ns.service(name)
            return info if info.ingress else None

        try:
            info = wait_until(f"ingress of Service {self.ns.name}/{name}", ready, timeout=bound)
        except WaitTimeoutError:
            if self.handle.lb_provider_is_lbctl:
                raise
            pytest.skip(
                f"no LoadBalancer ingress within {bound:.0f}s (no LB provider on this cluster, "
                "or slower than --conformance-lb-timeout)"
            )
        address = info.ingress[0]
        for ip in _addresses(address):
            self.handle.guard.admit(ip)
        return address

    def wait_no_ingress(self, name: str) -> None:
        wait_until(
            f"Service {self.ns.name}/{name} to lose its ingress",
            lambda: not self.ns.service(name).ingress,
            timeout=self.timeout,
        )

    def source_ip_preserved(self, name: str) -> bool:
        """False when the provider says it proxies (`ipMode: Proxy`)."""
        return "Proxy" not in self.ns.service(name).ip_modes


def _addresses(ingress: str) -> list[str]:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in ingress else socket.AF_INET, ingress)
    except OSError:
        infos = socket.getaddrinfo(ingress, None, type=socket.SOCK_STREAM)
        return sorted({str(info[4][0]) for info in infos})
    return [ingress]
