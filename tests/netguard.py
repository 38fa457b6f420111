"""A network guard for the test process: only loopback and 198.18.0.0/15.

Installed for every test session by tests/conftest.py. Any connect() or name
lookup from this process to another address fails loudly, so a library that
quietly talks to the internet (google-cloud-compute's operation polling goes
to compute.googleapis.com unless rewired) fails a test instead of leaving the
machine. Subprocesses are not covered; they get their targets from tests.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

ALLOWED = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("198.18.0.0/15"),
)
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


class NetworkGuardError(OSError):
    """A test tried to reach an address outside the allowed ranges."""


def allowed(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return any(address in network for network in ALLOWED)


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not allowed(str(address[0])):
        raise NetworkGuardError(f"network guard: tests may not connect to {address[0]}")


def _connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not allowed(host.decode() if isinstance(host, bytes) else str(host)):
        raise NetworkGuardError(f"network guard: tests may not resolve {host}")
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo
