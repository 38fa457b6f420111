"""Real traffic through NLBs the aws provider builds in moto (issue 13, first step).

The provider builds through boto3 against moto's server, as in the other
tests here, in a VPC whose instances carry the addresses of namespaces that
stand for nodes; moto's data plane (tests/fakes/aws_network.py) makes a
router namespace forward as an NLB with instance targets does: the client's
packets reach a healthy instance on the target port (the node port) with the
client's address kept. So a wrong node port, health check, security-group
rule or target registration shows up as lost or misdirected traffic.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

import pytest

from lbcommon.clock import FakeClock
from lbcommon.desired import desired_load_balancer
from lbcommon.model import NodeInfo, SessionAffinity
from lbctl.metrics import Metrics
from lbctl.providers.aws import AwsProvider
from tests.fakes.aws import CLUSTER_ID, ZONES, MotoServer, vpc_with_nodes
from tests.fakes.aws_network import AwsNetwork
from tests.integration.providers.aws.conftest import FAST_RETRY
from tests.netns.routed import NodesBehindRouter as World
from tests.netns.routed import nodes_behind_router
from tests.netns.servers import tcp_ask
from tests.services import service_spec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NODE_PORT = 30080
UID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    with nodes_behind_router(("node-0", "node-1", "node-2"), tcp_ports=(NODE_PORT,)) as world:
        yield world


@dataclass
class Cloud:
    provider: AwsProvider
    network: AwsNetwork
    ec2: Any
    nodes: list[NodeInfo]


@pytest.fixture
def cloud(world: World, moto: MotoServer, aws: tuple[Any, Any]) -> Iterator[Cloud]:
    """A VPC whose instances have the world's node addresses, the provider, the data plane."""
    elbv2, ec2 = aws
    subnet = world.topo.subnet
    others = [f"198.19.{n}.0/24" for n in (1, 2, 3) if n != subnet.network_address.packed[2]]
    vpc, ids = vpc_with_nodes(
        ec2,
        [(host.role, str(host.ip)) for host in world.hosts.values()],
        vpc_cidr="198.19.0.0/16",
        subnets=(str(subnet), *others[:2]),
    )
    nodes = [
        NodeInfo(name=h.role, internal_ip=str(h.ip), zone=ZONES[0], provider_id=ids[h.role])
        for h in world.hosts.values()
    ]
    provider = AwsProvider(
        elbv2=elbv2,
        ec2=ec2,
        metrics=Metrics(),
        cluster_id=CLUSTER_ID,
        vpc_id=vpc,
        retry=FAST_RETRY,
        clock=FakeClock(),
    )
    third = subnet.network_address.packed[2]
    pool = (IPv4Address(f"198.18.{third - 64}.{n}") for n in range(1, 255))
    network = AwsNetwork(*moto.clients(), namespace=world.outside.router.ns, dns_pool=pool)
    network.start()
    try:
        yield Cloud(provider, network, ec2, nodes)
    finally:
        network.stop()
        for server in world.servers.values():
            server.healthy = True


def build(cloud: Cloud, **spec: Any) -> IPv4Address:
    """The provider builds the Service's NLB; its address on the data plane."""
    lb = desired_load_balancer(service_spec(uid=UID, **spec), cloud.nodes)
    [ingress] = cloud.provider.ensure(lb)
    if ingress.ip:
        return IPv4Address(ingress.ip)
    assert ingress.hostname, ingress
    return cloud.network.address_of(ingress.hostname)


def ask(world: World, address: IPv4Address, *, timeout: float = 1.0) -> tuple[str, str] | None:
    """(node that answered, client address it saw) for one connection, or None."""
    answer = tcp_ask(world.outside.client_ns, address, 80, timeout=timeout)
    if not answer:
        return None
    node, seen = answer.split()[:2]
    return node, seen.rsplit(":", 1)[0]


def spread(world: World, address: IPv4Address, count: int = 30) -> Counter[str | None]:
    return Counter((got[0] if got else None) for got in (ask(world, address) for _ in range(count)))


def until(what: str, probe: object, timeout: float = 15.0) -> None:
    assert callable(probe)
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


NODES = {"node-0", "node-1", "node-2"}


def test_traffic_reaches_every_instance_on_its_node_port_with_the_client_address(
    world: World, cloud: Cloud
) -> None:
    address = build(cloud)
    until("every instance answering", lambda: set(spread(world, address)) == NODES)
    got = ask(world, address)
    assert got is not None and got[1] == str(world.outside.client_ip), got


def test_an_instance_failing_the_target_group_health_check_gets_no_new_connections(
    world: World, cloud: Cloud
) -> None:
    address = build(cloud)
    until("every instance answering", lambda: set(spread(world, address)) == NODES)
    world.servers["node-0"].healthy = False
    until("node-0 out", lambda: "node-0" not in spread(world, address), timeout=10)
    assert None not in spread(world, address), "requests were lost meanwhile"


def test_security_group_rules_decide_who_connects(world: World, cloud: Cloud) -> None:
    """The provider's rule admits the listed range; a rule admitting the wrong
    sources (a provider bug, flipped here in moto) cuts the client off."""
    address = build(cloud, ranges=(f"{world.outside.client_ip}/32",))
    until("the listed client connects", lambda: ask(world, address) is not None)
    wrong = "198.18.0.250/32"
    for group in cloud.ec2.describe_security_groups()["SecurityGroups"]:
        for perm in group.get("IpPermissions", []):
            ranges = [r["CidrIp"] for r in perm.get("IpRanges", [])]
            if f"{world.outside.client_ip}/32" in ranges:
                cloud.ec2.revoke_security_group_ingress(
                    GroupId=group["GroupId"], IpPermissions=[perm]
                )
                flipped = {**perm, "IpRanges": [{"CidrIp": wrong}]}
                cloud.ec2.authorize_security_group_ingress(
                    GroupId=group["GroupId"], IpPermissions=[flipped]
                )
    until("the client cut off", lambda: ask(world, address, timeout=0.5) is None, timeout=5)


def test_source_ip_stickiness_keeps_a_client_on_one_instance(world: World, cloud: Cloud) -> None:
    address = build(cloud, affinity=SessionAffinity.CLIENT_IP)
    until("an answer", lambda: ask(world, address) is not None)
    seen = spread(world, address)
    assert len(seen) == 1 and None not in seen, seen


def test_a_requested_elastic_ip_is_the_address_its_dns_name_resolves_to(
    world: World, cloud: Cloud
) -> None:
    """loadBalancerIP names an Elastic IP: the NLB is built on it (moto, mended,
    lists it under LoadBalancerAddresses), serves there, and the hosts entry for
    its DNS name gives that address, as AWS's DNS does."""
    third = world.topo.subnet.network_address.packed[2]
    eip = f"198.18.{third - 64}.250"
    cloud.ec2.allocate_address(Domain="vpc", Address=eip)
    lb = desired_load_balancer(service_spec(uid=UID, ip=eip), cloud.nodes)
    [ingress] = cloud.provider.ensure(lb)
    assert ingress.hostname
    until("the Elastic IP serving", lambda: ask(world, IPv4Address(eip)) is not None)
    assert cloud.network.dns_names()[ingress.hostname] == IPv4Address(eip)
