"""The outside world's address plan (issue 11): outside, routed, inside the /15."""

from __future__ import annotations

import ipaddress

import pytest

from localcluster import netns, outside
from localcluster.cluster import CLUSTER_CIDR, SERVICE_CIDR
from localcluster.controlplane import ControlPlaneSettings

pytestmark = pytest.mark.unit

CLIENT = ipaddress.ip_network(outside.NETWORK)
BRIDGE = ipaddress.ip_network(f"{netns.BRIDGE_ADDRESS}/{netns.BRIDGE_PREFIX}", strict=False)


def test_the_client_network_is_inside_the_safety_net_and_nobody_else_s() -> None:
    assert CLIENT.subnet_of(ipaddress.ip_network(netns.SAFETY_NET))
    for other in (CLUSTER_CIDR, SERVICE_CIDR, ControlPlaneSettings.cluster_cidr):
        assert not CLIENT.overlaps(ipaddress.ip_network(other)), other


def test_the_client_shares_no_16_with_the_nodes() -> None:
    assert not CLIENT.overlaps(BRIDGE.supernet(new_prefix=16))


def test_the_router_sits_on_the_bridge_below_the_nodes_and_the_pool() -> None:
    router = ipaddress.ip_address(outside.ROUTER_ON_BRIDGE)
    first_pool = ipaddress.ip_address(netns.LB_POOL.split("-")[0])
    assert router in BRIDGE
    assert router < ipaddress.ip_address("198.18.0.10") < first_pool
    assert ipaddress.ip_address(outside.CLIENT_ADDRESS) in CLIENT
    assert ipaddress.ip_address(outside.ROUTER_OUTSIDE) in CLIENT


def test_namespaces_carry_the_teardown_prefix() -> None:
    from localcluster.teardown import NETNS_PREFIX

    assert outside.CLIENT_NETNS.startswith(NETNS_PREFIX)
    assert outside.ROUTER_NETNS.startswith(NETNS_PREFIX)
