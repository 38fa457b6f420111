"""Probes from outside the cluster: NodePorts, external IPs, load balancers.

A probe leaves from the runner itself, unless it targets a node's own address
and the runner cannot reach the nodes: then it leaves from a host-network pod
on another node (`routes.choose_route`, asked of the `Router`). Tests see one
interface either way.

Guarantees: every destination passes the cluster's `DestinationGuard` before
a socket is opened or a pod is told about it; HTTP from the runner goes
through `http.client` (never through a proxy from the environment); every
call is bounded by its timeout and reports failures as values (`None`, a
`Connect` result), not exceptions; each probe's route is recorded in the
`ProbeLog`, when one is given, so the report says which way it went.
"""

from __future__ import annotations

import errno
import http.client
import socket
import time
from collections.abc import Sequence
from typing import Protocol

from conformance.guard import DestinationGuard
from conformance.probes import Connect
from conformance.routes import RUNNER, ProbeLog, Route


class NodeProber(Protocol):
    """Probes from a host-network pod (`hostprobes.HostProbe`)."""

    @property
    def ip(self) -> str | None: ...

    def http_status_many(
        self, address: str, port: int, path: str, *, count: int, timeout: float
    ) -> list[tuple[int, str] | None]: ...

    def tcp(self, address: str, port: int, *, timeout: float) -> Connect: ...

    def udp(self, address: str, port: int, payload: str, *, timeout: float) -> str | None: ...


class Router(Protocol):
    """Which way a probe goes, and the pod that sends it when not from the runner."""

    def route(self, address: str) -> Route: ...

    def prober(self, route: Route) -> NodeProber: ...


class Outside:
    """Requests from outside the cluster, only to guarded destinations."""

    def __init__(
        self,
        guard: DestinationGuard,
        *,
        router: Router | None = None,
        log: ProbeLog | None = None,
    ) -> None:
        self.guard = guard
        self._router = router
        self._log = log

    def route_to(self, host: str) -> Route:
        """Which way a probe to `host` goes (the guard checks `host` first)."""
        address = self.guard.check(host)
        return self._router.route(address) if self._router else RUNNER

    def _send(self, host: str) -> tuple[str, NodeProber | None]:
        """The checked address of `host` and the pod to send from (None: the runner)."""
        address = self.guard.check(host)
        route = self._router.route(address) if self._router else RUNNER
        if self._log is not None:
            self._log.route(route)
        if self._router is None or not route.via_pod:
            return address, None
        return address, self._router.prober(route)

    def source_address(self, host: str) -> str:
        """The address a probe to `host` leaves from: the runner's own (no packet
        is sent), or the probe pod's."""
        route = self.route_to(host)
        if self._router is None or not route.via_pod:
            return source_address_to(self.guard, host)
        ip = self._router.prober(route).ip
        assert ip, f"the probe pod on {route.node} has no IP"
        return ip

    def http_status(
        self, host: str, port: int, path: str = "/hostname", *, timeout: float = 3
    ) -> tuple[int, str] | None:
        """(status, body) of one GET on a new connection, or None if it failed."""
        address, pod = self._send(host)
        if pod is not None:
            return pod.http_status_many(address, port, path, count=1, timeout=timeout)[0]
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            return response.status, response.read().decode(errors="replace").strip()
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def http(
        self, host: str, port: int, path: str = "/hostname", *, timeout: float = 3
    ) -> str | None:
        """The body of a 200 answer, else None."""
        got = self.http_status(host, port, path, timeout=timeout)
        return got[1] if got and got[0] == 200 else None

    def http_many(
        self, host: str, port: int, path: str = "/hostname", *, count: int, timeout: float = 3
    ) -> list[str | None]:
        """`count` GETs, each on a new connection (from a pod: in one exec)."""
        address, pod = self._send(host)
        if pod is None:
            return [self.http(host, port, path, timeout=timeout) for _ in range(count)]
        got = pod.http_status_many(address, port, path, count=count, timeout=timeout)
        return [a[1] if a and a[0] == 200 else None for a in got]

    def tcp(self, host: str, port: int, *, timeout: float = 3) -> Connect:
        """One TCP connect: ok, REFUSED, TIMEOUT or OTHER, and how long it took."""
        address, pod = self._send(host)
        if pod is not None:
            return pod.tcp(address, port, timeout=timeout)
        started = time.monotonic()
        try:
            with socket.create_connection((address, port), timeout=timeout):
                result = "ok"
        except TimeoutError:
            result = "TIMEOUT"
        except ConnectionRefusedError:
            result = "REFUSED"
        except OSError as err:
            result = "TIMEOUT" if err.errno == errno.ETIMEDOUT else "UNREACHABLE"
        return Connect(result, time.monotonic() - started)

    def udp(
        self, host: str, port: int, payload: str = "hostname", *, timeout: float = 2
    ) -> str | None:
        """One UDP request from a fresh socket; the answer, or None."""
        address, pod = self._send(host)
        if pod is not None:
            return pod.udp(address, port, payload, timeout=timeout)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.sendto(payload.encode(), (address, port))
                data, _ = sock.recvfrom(65535)
            except OSError:
                return None
        return data.decode(errors="replace").strip()

    def udp_many(
        self, host: str, port: int, payload: str = "hostname", *, count: int
    ) -> list[str | None]:
        return [self.udp(host, port, payload) for _ in range(count)]


def answered(answers: Sequence[str | None]) -> set[str]:
    """The distinct non-failed answers."""
    return {a for a in answers if a}


def source_address_to(guard: DestinationGuard, host: str) -> str:
    """The local address this process uses to reach `host` (no packet is sent).

    The runner's own address, whichever way `Outside` routes probes to `host`:
    for the address a routed probe leaves from, ask `Outside.source_address`.
    """
    address = guard.check(host)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((address, 9))
        return str(sock.getsockname()[0])


class UdpFlow:
    """One UDP flow (a fixed source port) from the runner to a guarded destination
    (a load-balancer ingress: never routed through a pod)."""

    def __init__(self, guard: DestinationGuard, host: str, port: int) -> None:
        self._address = (guard.check(host), port)
        family = socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)

    def __enter__(self) -> UdpFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def ask(self, payload: str = "hostname", *, timeout: float = 2) -> str | None:
        self._sock.settimeout(timeout)
        try:
            self._sock.sendto(payload.encode(), self._address)
            while True:
                data, peer = self._sock.recvfrom(65535)
                if peer[:2] == self._address:
                    return data.decode(errors="replace").strip()
        except OSError:
            return None
