"""LoadBalancer Services: create them for the suite and wait for their ingress.

Guarantees: every LoadBalancer the suite makes carries `--conformance-lb-class`
when one is set; `ingress` waits at most `--conformance-lb-timeout` seconds.
Where a provider is known to be present (the local cluster, where the suite
runs lbctl itself, or a class named with `--conformance-lb-class`) a missing
ingress fails the test with `MissingIngressError`, naming the Service, its
class, the expected provider and how long the suite waited; on a cluster whose
provider is unknown it skips the test with that reason. Ingress addresses are
admitted to the runner's guard (a frozen guard refuses them if they lie
outside its ranges), and their ipModes go to the `ProbeLog`, when one is
given, for the report's header.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from conformance.cluster import ClusterHandle
from conformance.kube import Namespace, ServiceInfo
from conformance.manifests import Manifest
from conformance.routes import ProbeLog
from conformance.settings import SuiteSettings
from conformance.waiting import WaitTimeoutError, wait_until

LBCTL_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


class MissingIngressError(AssertionError):
    """A provider known to be present gave a LoadBalancer no ingress in time."""


def expected_provider(handle: ClusterHandle, lb_class: str | None) -> str | None:
    """Who is known to serve the suite's load balancers, or None when nobody is."""
    if lb_class:
        return f"the controller of loadBalancerClass {lb_class} (--conformance-lb-class)"
    if handle.lb_provider_is_lbctl:
        return f"lbctl, which the suite runs on the {handle.name} cluster"
    return None


class LoadBalancers:
    """LoadBalancer Services of one test namespace."""

    def __init__(
        self,
        ns: Namespace,
        settings: SuiteSettings,
        handle: ClusterHandle,
        *,
        log: ProbeLog | None = None,
    ) -> None:
        self.ns = ns
        self.timeout = settings.lb_timeout
        self.lb_class = settings.lb_class
        self.handle = handle
        self._log = log

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
        except WaitTimeoutError as err:
            raise self.no_ingress(name, bound) from err
        if self._log is not None:
            self._log.ip_modes(info.ip_modes)
        address = info.ingress[0]
        # A hostname ingress (an AWS NLB's) resolves some time after it is
        # written, as DNS propagates: wait for it within the same bound.
        resolved = wait_until(
            f"the ingress {address} of Service {self.ns.name}/{name} to resolve",
            lambda: _resolved(address),
            timeout=bound,
        )
        for ip in resolved:
            self.handle.guard.admit(ip)
        return address

    def no_ingress(self, name: str, waited: float) -> MissingIngressError:
        """What Service `name` having no ingress after `waited` seconds means: the
        failure to raise where a provider is known to be present; elsewhere the
        test is skipped here, with the reason.

        For checks that wait on more than the ingress (an ingress or a Warning
        event), so their timeout names the missing ingress as `ingress` does.
        """
        provider = expected_provider(self.handle, self.lb_class)
        if provider is None:
            pytest.skip(
                f"no LoadBalancer ingress within {waited:g}s (no LB provider on this "
                "cluster, or slower than --conformance-lb-timeout; name the provider's "
                "class with --conformance-lb-class to make this a failure)"
            )
        lb_class = self.lb_class or "none (the cluster's default provider)"
        return MissingIngressError(
            f"missing ingress: Service {self.ns.name}/{name} (loadBalancerClass {lb_class}) "
            f"got no status.loadBalancer.ingress within {waited:g}s, though {provider} "
            f"is expected to serve it"
        )

    def wait_no_ingress(self, name: str) -> None:
        wait_until(
            f"Service {self.ns.name}/{name} to lose its ingress",
            lambda: not self.ns.service(name).ingress,
            timeout=self.timeout,
        )

    def source_ip_preserved(self, name: str) -> bool:
        """False when the provider says it proxies (`ipMode: Proxy`)."""
        return "Proxy" not in self.ns.service(name).ip_modes


def _resolved(ingress: str) -> list[str] | None:
    """The ingress's addresses, or None while its name does not resolve."""
    try:
        return addresses(ingress)
    except OSError:
        return None


def addresses(ingress: str) -> list[str]:
    """An ingress's addresses: itself if an IP, else what its hostname resolves to."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in ingress else socket.AF_INET, ingress)
    except OSError:
        infos = socket.getaddrinfo(ingress, None, type=socket.SOCK_STREAM)
        return sorted({str(info[4][0]) for info in infos})
    return [ingress]
