"""The runner never sends probes outside the cluster's ranges."""

from __future__ import annotations

import ipaddress

import pytest

from conformance.guard import DestinationGuard, DestinationRefusedError
from conformance.outside import Outside

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "address", ["198.18.0.1", "198.18.0.200", "198.18.16.10", "198.19.3.4", "198.19.255.255"]
)
def test_local_guard_allows_the_benchmarking_range(address: str) -> None:
    assert DestinationGuard.local().check(address) == address


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "10.0.0.1", "127.0.0.1", "198.17.255.255", "198.20.0.0", "::1"]
)
def test_local_guard_refuses_everything_else(address: str) -> None:
    with pytest.raises(DestinationRefusedError, match="refusing"):
        DestinationGuard.local().check(address)


def test_local_guard_cannot_be_widened() -> None:
    guard = DestinationGuard.local()
    guard.admit("198.18.0.201")  # inside: a no-op
    with pytest.raises(DestinationRefusedError, match="outside the cluster's ranges"):
        guard.admit("203.0.113.7")
    assert guard.networks == (ipaddress.ip_network("198.18.0.0/15"),)


def test_open_guard_widens_by_exact_addresses_only() -> None:
    guard = DestinationGuard([], frozen=False)
    guard.admit("203.0.113.7")
    assert guard.check("203.0.113.7") == "203.0.113.7"
    with pytest.raises(DestinationRefusedError):
        guard.check("203.0.113.8")


def test_runner_probes_refuse_before_any_socket() -> None:
    outside = Outside(DestinationGuard.local())
    with pytest.raises(DestinationRefusedError):
        outside.tcp("192.0.2.1", 80)
    with pytest.raises(DestinationRefusedError):
        outside.http("192.0.2.1", 80)
    with pytest.raises(DestinationRefusedError):
        outside.udp("192.0.2.1", 53)
