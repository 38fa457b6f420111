"""The test-process network guard refuses everything but loopback and 198.18.0.0/15."""

from __future__ import annotations

import socket

import pytest

from tests.netguard import NetworkGuardError, allowed

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1", True),
        ("127.150.3.4", True),
        ("::1", True),
        ("localhost", True),
        ("198.18.0.200", True),
        ("198.19.255.1", True),
        ("198.20.0.1", False),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("8.8.8.8", False),
        ("compute.googleapis.com", False),
    ],
)
def test_allowed(host: str, ok: bool) -> None:
    assert allowed(host) is ok


def test_connect_outside_is_refused_before_any_packet() -> None:
    with socket.socket() as sock, pytest.raises(NetworkGuardError):
        sock.connect(("192.0.2.1", 80))


def test_name_lookup_outside_is_refused() -> None:
    with pytest.raises(NetworkGuardError):
        socket.getaddrinfo("compute.googleapis.com", 443)
