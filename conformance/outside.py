"""Probes from the test runner itself: NodePorts, external IPs, load balancers.

Guarantees: every destination passes the cluster's `DestinationGuard` before
a socket is opened; HTTP goes through `http.client` (never through a proxy
from the environment); every call is bounded by its timeout and reports
failures as values (`None`, a `Connect` result), not exceptions.
"""

from __future__ import annotations

import errno
import http.client
import socket
import time
from collections.abc import Sequence

from conformance.guard import DestinationGuard
from conformance.probes import Connect


class Outside:
    """Requests from this process, only to guarded destinations."""

    def __init__(self, guard: DestinationGuard) -> None:
        self.guard = guard

    def http_status(
        self, host: str, port: int, path: str = "/hostname", *, timeout: float = 3
    ) -> tuple[int, str] | None:
        """(status, body) of one GET on a new connection, or None if it failed."""
        address = self.guard.check(host)
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
        return [self.http(host, port, path, timeout=timeout) for _ in range(count)]

    def tcp(self, host: str, port: int, *, timeout: float = 3) -> Connect:
        """One TCP connect: ok, REFUSED, TIMEOUT or OTHER, and how long it took."""
        address = self.guard.check(host)
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
        address = self.guard.check(host)
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
    """The local address this process uses to reach `host` (no packet is sent)."""
    address = guard.check(host)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((address, 9))
        return str(sock.getsockname()[0])


class UdpFlow:
    """One UDP flow (a fixed source port) to a guarded destination."""

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
