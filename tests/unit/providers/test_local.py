"""The local provider refuses what nodeproxy, its data plane, cannot carry."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lbcommon.errors import InvalidServiceError
from lbcommon.model import (
    FrontendPort,
    HealthCheck,
    LoadBalancer,
    Protocol,
    ServiceKey,
)
from lbcommon.pools import parse_pools
from lbctl.providers.local import LocalProvider

pytestmark = pytest.mark.unit


def _lb(*protocols: Protocol) -> LoadBalancer:
    return LoadBalancer(
        key=ServiceKey("ns/web"),
        uid="u1",
        ports=tuple(FrontendPort(p, 80 + i, 30080 + i) for i, p in enumerate(protocols)),
        backends=(),
        health_check=HealthCheck(port=10256),
    )


@pytest.mark.parametrize("call", ["ensure", "plan"])
def test_sctp_is_refused_by_field_and_nothing_is_allocated(call: str) -> None:
    provider = LocalProvider(parse_pools(["198.18.0.200-198.18.0.201"]))
    with pytest.raises(InvalidServiceError) as raised:
        getattr(provider, call)(_lb(Protocol.TCP, Protocol.SCTP))
    assert [p.field for p in raised.value.problems] == ["spec.ports[1].protocol"]
    assert "nodeproxy" in str(raised.value)
    assert provider.list_owned() == []


def test_ports_without_node_ports_get_an_address() -> None:
    """nodeproxy delivers to the ingress IP: allocateLoadBalancerNodePorts false is served."""
    provider = LocalProvider(parse_pools(["198.18.0.200-198.18.0.201"]))
    lb = replace(_lb(Protocol.TCP), ports=(FrontendPort(Protocol.TCP, 80, None),))
    [ingress] = provider.ensure(lb)
    assert ingress.ip == "198.18.0.200"
    assert provider.ensure(_lb(Protocol.TCP)) == (ingress,), "node ports switched on: same IP"


def test_tcp_and_udp_get_an_address() -> None:
    provider = LocalProvider(parse_pools(["198.18.0.200-198.18.0.201"]))
    [ingress] = provider.ensure(_lb(Protocol.TCP, Protocol.UDP))
    assert ingress.ip == "198.18.0.200"
